# terraform test for the example, with both providers mocked: one plan from an
# empty state covers the project, its user and the runners together (no
# -target phase). tests/infra/test_terraform.py runs it offline.

mock_provider "selectel" {}
mock_provider "openstack" {}

variables {
  selectel_account_id   = "123456"
  selectel_username     = "terraform-admin"
  selectel_password     = "Canary-Selectel-1"
  project_user_password = "Canary-Project-2"
  runners_count         = 3
  bastion_allowed_cidrs = ["198.51.100.0/24"]
  ssh_public_key        = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderPlaceholderPlaceholder0000 test@example"
}

run "one_plan_creates_everything" {
  command = plan

  assert {
    condition     = module.berth_runners.runner_names == ["berth-runner-1", "berth-runner-2", "berth-runner-3"]
    error_message = "runners_count = 3 must plan berth-runner-1..3"
  }
  assert {
    condition     = module.berth_runners.network_created
    error_message = "a new project gets a new network"
  }
}
