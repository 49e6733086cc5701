# Terraform, the providers, and where the state lives.
terraform {
  required_version = "~> 1.9"

  required_providers {
    # Selectel's own API: the project and its service user.
    selectel = {
      source  = "selectel/selectel"
      version = "~> 7.0"
    }
    # Selectel's cloud servers, networks and volumes are OpenStack resources.
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 3.0"
    }
  }

  # The state holds the project service user's password: it lives in a
  # private bucket of Selectel's S3, not on a laptop. Partial configuration:
  # the bucket is given at init (terraform init -backend-config=bucket=NAME),
  # the keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (an S3 key
  # of a service user with access to that bucket). See ../../README.md.
  backend "s3" {
    key    = "berth-runners/new-project.tfstate"
    region = "ru-1"
    endpoints = {
      s3 = "https://s3.ru-1.storage.selcloud.ru"
    }
    # Selectel's S3 is not AWS: there is no STS to check the keys against, no
    # account ID to look up, no instance metadata, and the region is not one
    # of AWS's; it wants path-style URLs and no AWS-specific checksums.
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    skip_s3_checksum            = true
    use_path_style              = true
  }
}
