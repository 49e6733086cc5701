# A module: no provider blocks; the caller configures the selectel provider
# with an account-level service user (roles member and iam_admin).
#
# selectel ~> 7.0: the current major of Selectel's provider (7.x since
# October 2025; docs.selectel.ru's examples still show 6.0, whose resources
# used here are unchanged).
terraform {
  required_version = "~> 1.9"

  required_providers {
    selectel = {
      source  = "selectel/selectel"
      version = "~> 7.0"
    }
  }
}
