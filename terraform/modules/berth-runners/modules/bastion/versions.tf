# The provider's source only; the version range is berth-runners' (../../versions.tf).
terraform {
  required_providers {
    openstack = {
      source = "terraform-provider-openstack/openstack"
    }
  }
}
