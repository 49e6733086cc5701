# The selectel provider works as an account-level service user: it creates
# the project and the project's service user (roles member and iam_admin).
provider "selectel" {
  domain_name = var.selectel_account_id
  username    = var.selectel_username
  password    = var.selectel_password
  auth_region = var.region
  auth_url    = var.auth_url
}

# The openstack provider works inside the new project as its service user.
#
# One apply: every argument here is an input variable, known before the apply,
# none an attribute of a resource created by it. The project is named, not
# identified by its ID (Keystone scopes a token to a project by name within
# the account's domain), and the user's name and password are the ones
# module.project is given. The provider authenticates on its first API call
# (delayed_auth, the provider's default, set here because one apply depends on
# it: its configure step then builds a client without asking Keystone), and every openstack resource and data source waits for
# module.project (depends_on in main.tf), so by then the project and the
# user exist.
provider "openstack" {
  auth_url     = var.auth_url
  domain_name  = var.selectel_account_id
  tenant_name  = var.project_name
  user_name    = var.project_user_name
  password     = var.project_user_password
  region       = var.region
  delayed_auth = true
}
