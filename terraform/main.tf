# berth's GitLab Runner VMs on Selectel: a project of their own, a private
# network behind a NAT router, one bastion with a public address, and
# var.runners_count runners reachable only through it. Ansible (../ansible)
# configures them from the inventory in the ansible_inventory output.

locals {
  # Selectel's volume types carry the zone: "fast" in ru-9a is "fast.ru-9a".
  volume_type = "${var.disk_type}.${var.availability_zone}"
}

# Phase one of a fresh apply (see providers.tf): the project and the service
# user the openstack provider works as.
module "project" {
  source = "./modules/project"

  project_name  = var.project_name
  user_name     = var.project_user_name
  user_password = var.project_user_password
}

data "openstack_images_image_v2" "os" {
  name        = var.image_name
  visibility  = "public"
  most_recent = true
}

# One key pair for the bastion and the runners: ProxyJump authenticates to
# both with the same agent or key.
resource "openstack_compute_keypair_v2" "admin" {
  name       = "${var.name_prefix}-admin"
  public_key = var.ssh_public_key
}

module "network" {
  source = "./modules/network"

  name_prefix           = var.name_prefix
  cidr                  = var.private_network_cidr
  dns_nameservers       = var.dns_nameservers
  external_network_name = var.external_network_name
}

module "bastion" {
  source = "./modules/bastion"

  name              = "${var.name_prefix}-bastion"
  allowed_cidrs     = var.bastion_allowed_cidrs
  flavor            = var.bastion_flavor
  image_id          = data.openstack_images_image_v2.os.id
  disk_size_gb      = var.bastion_disk_size_gb
  volume_type       = local.volume_type
  availability_zone = var.availability_zone
  network_id        = module.network.network_id
  subnet_id         = module.network.subnet_id
  floating_ip_pool  = module.network.external_network_name
  key_pair          = openstack_compute_keypair_v2.admin.name
}

module "runners" {
  source = "./modules/runners"

  name_prefix               = var.name_prefix
  runners_count             = var.runners_count
  flavor                    = var.runner_flavor
  image_id                  = data.openstack_images_image_v2.os.id
  disk_size_gb              = var.runner_disk_size_gb
  volume_type               = local.volume_type
  availability_zone         = var.availability_zone
  network_id                = module.network.network_id
  subnet_id                 = module.network.subnet_id
  key_pair                  = openstack_compute_keypair_v2.admin.name
  bastion_security_group_id = module.bastion.security_group_id
}
