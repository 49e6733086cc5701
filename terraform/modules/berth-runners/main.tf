# berth's GitLab Runner VMs on Selectel: one bastion with a public address,
# and var.runners_count runners reachable only through it, on a private
# network that is either created here or an existing one (for example the
# network of a managed Kubernetes cluster). Ansible (../../../ansible)
# configures them from the inventory in the ansible_inventory output.
#
# The project is whichever one the caller's openstack provider is scoped to.

locals {
  # Selectel's volume types carry the zone: "fast" in ru-9a is "fast.ru-9a".
  volume_type = "${var.disk_type}.${var.availability_zone}"

  create_network = var.existing_network == null
  network_id     = local.create_network ? module.network[0].network_id : var.existing_network.network_id
  subnet_id      = local.create_network ? module.network[0].subnet_id : var.existing_network.subnet_id
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

# A private network behind a NAT router, unless the caller brings one.
module "network" {
  source = "./modules/network"
  count  = local.create_network ? 1 : 0

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
  network_id        = local.network_id
  subnet_id         = local.subnet_id
  floating_ip_pool  = var.external_network_name
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
  network_id                = local.network_id
  subnet_id                 = local.subnet_id
  key_pair                  = openstack_compute_keypair_v2.admin.name
  bastion_security_group_id = module.bastion.security_group_id
}
