# A Selectel project for the runners, and a service user that may manage
# only this project. The new-project example configures the openstack
# provider with this user (by name, known before the apply: see
# ../../examples/new-project/providers.tf), so that berth-runners runs with
# project-scoped credentials.

resource "selectel_vpc_project_v2" "this" {
  name = var.project_name
}

resource "selectel_iam_serviceuser_v1" "this" {
  name     = var.user_name
  password = var.user_password

  # "member" at project scope is Selectel's project administrator role: it may
  # create networks, volumes and servers in this project and nowhere else.
  role {
    role_name  = "member"
    scope      = "project"
    project_id = selectel_vpc_project_v2.this.id
  }
}
