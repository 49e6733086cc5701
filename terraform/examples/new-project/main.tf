# Runners for berth in a Selectel project of their own, created here: the
# project and a project-scoped service user (selectel provider), then the
# network, bastion and runners (berth-runners, openstack provider). One
# `terraform apply`: see providers.tf.

module "project" {
  source = "../../modules/selectel-project"

  project_name  = var.project_name
  user_name     = var.project_user_name
  user_password = var.project_user_password
}

module "berth_runners" {
  source = "../../modules/berth-runners"

  # The openstack provider signs in as the user module.project creates, in
  # the project it creates: nothing of it may be read or created before.
  depends_on = [module.project]

  # What a team usually sets; every other input of the module keeps its
  # default (../../README.md lists them all).
  name_prefix           = var.name_prefix
  availability_zone     = var.availability_zone
  runners_count         = var.runners_count
  runner_flavor         = var.runner_flavor
  image_name            = var.image_name
  bastion_allowed_cidrs = var.bastion_allowed_cidrs
  ssh_public_key        = var.ssh_public_key
  private_network_cidr  = var.private_network_cidr
}
