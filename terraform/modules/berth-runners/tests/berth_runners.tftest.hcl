# terraform test for the module, with a mocked openstack provider: nothing is
# created; the mock answers for the cloud (tests/infra/test_terraform.py runs
# this offline, against the providers' schemas).

mock_provider "openstack" {
  mock_data "openstack_images_image_v2" {
    defaults = {
      id = "image-ubuntu"
    }
  }
  mock_data "openstack_networking_network_v2" {
    defaults = {
      id   = "net-external"
      name = "external-network"
    }
  }
  mock_resource "openstack_networking_floatingip_v2" {
    defaults = {
      address = "203.0.113.10"
    }
  }
  mock_resource "openstack_networking_port_v2" {
    defaults = {
      all_fixed_ips = ["10.20.0.11"]
    }
  }
}

variables {
  name_prefix           = "ci"
  runners_count         = 3
  bastion_allowed_cidrs = ["198.51.100.0/24"]
  ssh_public_key        = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderPlaceholderPlaceholder0000 test@example"
}

run "new_network_plan" {
  command = plan

  assert {
    condition     = length(module.network) == 1
    error_message = "without existing_network the module must create a network"
  }
  assert {
    condition     = length(module.runners.names) == 3
    error_message = "runners_count = 3 must plan three runners"
  }
  assert {
    condition     = output.runner_names == ["ci-runner-1", "ci-runner-2", "ci-runner-3"]
    error_message = "runner names are <prefix>-runner-<n>"
  }
  assert {
    condition     = output.network_created
    error_message = "network_created must be true when the module creates the network"
  }
}

run "existing_network_plan" {
  command = plan

  variables {
    existing_network = {
      network_id = "net-cluster"
      subnet_id  = "subnet-cluster"
    }
  }

  assert {
    condition     = length(module.network) == 0
    error_message = "with existing_network the module must not create a network, subnet or router"
  }
  assert {
    condition     = output.network_id == "net-cluster" && output.subnet_id == "subnet-cluster"
    error_message = "the servers must go on the existing network and subnet"
  }
  assert {
    condition     = !output.network_created
    error_message = "network_created must be false with existing_network"
  }
}

# apply against the mock: every value is known, so the inventory renders.
run "inventory" {
  command = apply

  variables {
    runners_count = 2
    existing_network = {
      network_id = "net-cluster"
      subnet_id  = "subnet-cluster"
    }
  }

  assert {
    condition = yamldecode(output.ansible_inventory) == {
      all = {
        children = {
          berth_runners = {
            hosts = {
              "ci-runner-1" = { ansible_host = "10.20.0.11" }
              "ci-runner-2" = { ansible_host = "10.20.0.11" }
            }
            vars = {
              ansible_user            = "root"
              ansible_ssh_common_args = "-o ProxyJump=root@203.0.113.10"
            }
          }
        }
      }
    }
    error_message = "unexpected inventory:\n${output.ansible_inventory}"
  }
  assert {
    condition     = output.runners == [{ name = "ci-runner-1", address = "10.20.0.11" }, { name = "ci-runner-2", address = "10.20.0.11" }]
    error_message = "the runners output must list each runner's name and private address"
  }
  assert {
    condition     = output.ssh_common_args == "-o ProxyJump=root@203.0.113.10"
    error_message = "ssh_common_args must hop through the bastion's public address"
  }
}

run "refuses_ssh_from_everywhere" {
  command = plan

  variables {
    bastion_allowed_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.bastion_allowed_cidrs]
}
