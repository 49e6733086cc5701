# The bastion: the one machine with a public address, reachable by SSH only
# from var.allowed_cidrs. Ansible and people reach the runners through it
# (ssh -J).

resource "openstack_networking_secgroup_v2" "bastion" {
  name        = "${var.name}-ssh"
  description = "SSH to the bastion from the allowed CIDRs only"
  # Neutron's default egress rules stay: the bastion connects out to the
  # runners (SSH) and to package mirrors.
}

# One rule per allowed CIDR; the root module refuses an empty list and /0.
resource "openstack_networking_secgroup_rule_v2" "ssh_in" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = openstack_networking_secgroup_v2.bastion.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = each.value
}

# A private flavor of the requested size. disk = 0: the server boots from the
# network volume below, not from a local disk. A new size gets a new name, so
# create_before_destroy can make the new flavor before the resize.
resource "openstack_compute_flavor_v2" "bastion" {
  name      = "${var.name}-${var.flavor.vcpus}vcpu-${var.flavor.ram_mb}mb"
  vcpus     = var.flavor.vcpus
  ram       = var.flavor.ram_mb
  disk      = 0
  is_public = false

  lifecycle {
    create_before_destroy = true
  }
}

# An explicit port, so that only our security group applies (a port created
# by Nova would also get the project's "default" group) and so that the
# floating IP can be bound to it.
resource "openstack_networking_port_v2" "bastion" {
  name               = "${var.name}-eth0"
  network_id         = var.network_id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.bastion.id]

  fixed_ip {
    subnet_id = var.subnet_id
  }
}

resource "openstack_blockstorage_volume_v3" "boot" {
  name              = "${var.name}-boot"
  size              = var.disk_size_gb
  volume_type       = var.volume_type
  image_id          = var.image_id
  availability_zone = var.availability_zone

  lifecycle {
    # The image data source follows the newest build of the image; a new
    # build must not replace the disk of a running server.
    ignore_changes = [image_id]
  }
}

resource "openstack_compute_instance_v2" "bastion" {
  name              = var.name
  flavor_id         = openstack_compute_flavor_v2.bastion.id
  key_pair          = var.key_pair
  availability_zone = var.availability_zone

  network {
    port = openstack_networking_port_v2.bastion.id
  }

  block_device {
    uuid             = openstack_blockstorage_volume_v3.boot.id
    source_type      = "volume"
    destination_type = "volume"
    boot_index       = 0
  }

  vendor_options {
    # Selectel confirms resizes itself; do not wait for VERIFY_RESIZE.
    ignore_resize_confirmation = true
  }
}

resource "openstack_networking_floatingip_v2" "bastion" {
  pool        = var.floating_ip_pool
  description = "${var.name} public address"
}

resource "openstack_networking_floatingip_associate_v2" "bastion" {
  floating_ip = openstack_networking_floatingip_v2.bastion.address
  port_id     = openstack_networking_port_v2.bastion.id
}
