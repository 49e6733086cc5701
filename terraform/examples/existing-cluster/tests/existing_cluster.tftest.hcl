# terraform test for the example, with the openstack provider mocked: the
# runners go on the cluster's network and subnet, nothing of the network is
# created. tests/infra/test_terraform.py runs it offline.

mock_provider "openstack" {}

variables {
  selectel_account_id   = "123456"
  project_id            = "0123456789abcdef0123456789abcdef"
  network_id            = "net-cluster"
  subnet_id             = "subnet-cluster"
  project_user_name     = "k8s-project-terraform"
  project_user_password = "Canary-Project-2"
  runners_count         = 2
  bastion_allowed_cidrs = ["198.51.100.0/24"]
  ssh_public_key        = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderPlaceholderPlaceholder0000 test@example"
}

run "runners_beside_the_cluster" {
  command = plan

  assert {
    condition     = !module.berth_runners.network_created
    error_message = "the example must not create a network beside the cluster's"
  }
  assert {
    condition     = module.berth_runners.network_id == "net-cluster" && module.berth_runners.subnet_id == "subnet-cluster"
    error_message = "the servers must go on the cluster's network and subnet"
  }
  assert {
    condition     = module.berth_runners.runner_names == ["berth-runner-1", "berth-runner-2"]
    error_message = "runners_count = 2 must plan berth-runner-1 and berth-runner-2"
  }
}
