# The GitLab Runner VMs that berth runs on. No public address: GitLab Runner
# polls GitLab (outbound, through the router's NAT), so the only inbound
# traffic a runner needs is SSH from the bastion, for Ansible and for people.

resource "openstack_networking_secgroup_v2" "runners" {
  name        = "${var.name_prefix}-runners"
  description = "SSH to the runners from the bastion only"
  # Neutron's default egress rules stay: runners connect out to GitLab, the
  # registries and the Kubernetes API servers they deploy to.
}

# SSH only from members of the bastion's security group: this follows the
# bastion's port whatever its address, and matches nothing else, not even
# another runner.
resource "openstack_networking_secgroup_rule_v2" "ssh_from_bastion" {
  security_group_id = openstack_networking_secgroup_v2.runners.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_group_id   = var.bastion_security_group_id
}

# A private flavor of the requested size; see the bastion module for why
# disk = 0 and create_before_destroy.
resource "openstack_compute_flavor_v2" "runner" {
  name      = "${var.name_prefix}-runner-${var.flavor.vcpus}vcpu-${var.flavor.ram_mb}mb"
  vcpus     = var.flavor.vcpus
  ram       = var.flavor.ram_mb
  disk      = 0
  is_public = false

  lifecycle {
    create_before_destroy = true
  }
}

# Explicit ports, so that only the runners' group applies (not the project's
# "default" group) and so that their addresses can be read before the
# servers boot.
resource "openstack_networking_port_v2" "runner" {
  count = var.runners_count

  name               = "${var.name_prefix}-runner-${count.index + 1}-eth0"
  network_id         = var.network_id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.runners.id]

  fixed_ip {
    subnet_id = var.subnet_id
  }
}

resource "openstack_blockstorage_volume_v3" "boot" {
  count = var.runners_count

  name              = "${var.name_prefix}-runner-${count.index + 1}-boot"
  size              = var.disk_size_gb
  volume_type       = var.volume_type
  image_id          = var.image_id
  availability_zone = var.availability_zone

  lifecycle {
    # A new build of the image must not replace the disks of running runners.
    ignore_changes = [image_id]
  }
}

resource "openstack_compute_instance_v2" "runner" {
  count = var.runners_count

  name              = "${var.name_prefix}-runner-${count.index + 1}"
  flavor_id         = openstack_compute_flavor_v2.runner.id
  key_pair          = var.key_pair
  availability_zone = var.availability_zone

  network {
    port = openstack_networking_port_v2.runner[count.index].id
  }

  block_device {
    uuid             = openstack_blockstorage_volume_v3.boot[count.index].id
    source_type      = "volume"
    destination_type = "volume"
    boot_index       = 0
  }

  vendor_options {
    # Selectel confirms resizes itself; do not wait for VERIFY_RESIZE.
    ignore_resize_confirmation = true
  }
}

# Deliberately no floating IP here: runners are reachable only through the
# bastion (tests/infra/test_terraform.py checks this).
