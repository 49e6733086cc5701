# The openstack provider works in the cluster's existing project, as a service
# user with the member role in that project. Every argument is an input
# variable: nothing here waits for a resource, so one apply does it all.
provider "openstack" {
  auth_url    = var.auth_url
  domain_name = var.selectel_account_id
  tenant_id   = var.project_id
  user_name   = var.project_user_name
  password    = var.project_user_password
  region      = var.region
}
