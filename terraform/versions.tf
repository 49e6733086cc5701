# Terraform and provider versions, pinned in one place.
#
# ~> 1.9 because variables.tf validates availability_zone against region
# (a validation that reads another variable needs Terraform 1.9).
terraform {
  required_version = "~> 1.9"

  required_providers {
    # Selectel's own API: the project and the service user that the
    # openstack provider then works as.
    selectel = {
      source  = "selectel/selectel"
      version = "~> 6.0"
    }
    # Selectel's cloud servers, networks and volumes are OpenStack resources.
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 2.1"
    }
  }
}
