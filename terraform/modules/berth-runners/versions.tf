# A module: no provider blocks. The caller configures the openstack provider
# (the project and the credentials it works with) and passes it in; see
# ../../examples. The version constraint is the module's compatibility range.
#
# openstack ~> 3.0: the major Selectel's own examples use
# (selectel/selectel-infra-examples pins terraform-provider-openstack 3.0.0).
# ~> 1.9: the variables' validations and the tests use Terraform 1.9 features.
terraform {
  required_version = "~> 1.9"

  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 3.0"
    }
  }
}
