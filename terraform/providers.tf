# The selectel provider works as an account-level service user (it creates a
# project and a service user, which needs the "member" and "iam_admin"
# account roles).
provider "selectel" {
  domain_name = var.selectel_account_id
  username    = var.selectel_username
  password    = var.selectel_password
  auth_region = var.region
  auth_url    = var.auth_url
}

# The openstack provider works as the project-scoped service user created by
# module.project, inside that project: it can touch nothing else in the
# account.
#
# Its configuration reads attributes of resources created in this same
# configuration, so it cannot be configured until they exist. Hence the
# two-phase apply on a fresh state (README.md, "Apply"):
#
#   terraform apply -target=module.project
#   terraform apply
provider "openstack" {
  auth_url    = var.auth_url
  domain_name = var.selectel_account_id
  tenant_id   = module.project.project_id
  user_name   = module.project.user_name
  password    = module.project.user_password
  region      = var.region
}
