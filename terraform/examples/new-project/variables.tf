# The example's inputs: every one is in terraform.tfvars.example
# (tests/infra/test_terraform.py checks it). The module validates the values
# it is passed; only what the module cannot check is validated here.

# --- Selectel account (the selectel provider) ------------------------------

variable "selectel_account_id" {
  description = "Selectel account ID (the number at the top right of the control panel); the Keystone domain name."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.selectel_account_id))
    error_message = "selectel_account_id is the account's number, e.g. \"123456\"."
  }
}

variable "selectel_username" {
  description = "Account-level service user for the selectel provider; needs the member and iam_admin account roles to create the project and its service user."
  type        = string
}

variable "selectel_password" {
  description = "Password of selectel_username."
  type        = string
  sensitive   = true
}

variable "auth_url" {
  description = "Selectel's Keystone endpoint, used by both providers."
  type        = string
  default     = "https://cloud.api.selcloud.ru/identity/v3"
}

variable "region" {
  description = "Selectel pool (OpenStack region), e.g. ru-9."
  type        = string
  default     = "ru-9"

  validation {
    condition     = can(regex("^[a-z]{2}-[0-9]+$", var.region))
    error_message = "region is a pool name such as \"ru-9\"."
  }
}

# --- The project and the service user the openstack provider works as -------

variable "project_name" {
  description = "Name of the Selectel project created for the runners; the openstack provider scopes its token to it by this name, so it must be unique in the account."
  type        = string
  default     = "berth-runners"
}

variable "project_user_name" {
  description = "Name of the service user created with the member role in that project only; the openstack provider works as this user."
  type        = string
  default     = "berth-runners-terraform"
}

variable "project_user_password" {
  description = "Password for project_user_name: at least 8 characters with lowercase and uppercase Latin letters and digits."
  type        = string
  sensitive   = true

  validation {
    condition = (
      length(var.project_user_password) >= 8
      && can(regex("[a-z]", var.project_user_password))
      && can(regex("[A-Z]", var.project_user_password))
      && can(regex("[0-9]", var.project_user_password))
    )
    error_message = "project_user_password needs at least 8 characters, with lowercase and uppercase Latin letters and digits."
  }
}

# --- The runners (passed to the berth-runners module) -------------------------

variable "availability_zone" {
  description = "Availability zone of every server and volume, inside region (ru-9a in ru-9)."
  type        = string
  default     = "ru-9a"

  validation {
    condition     = can(regex("^${var.region}[a-z]$", var.availability_zone))
    error_message = "availability_zone must be a zone of the chosen region: the region's name and one letter (ru-9a for ru-9)."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name: <prefix>-bastion, <prefix>-runner-1, ..."
  type        = string
  default     = "berth"
}

variable "runners_count" {
  description = "Number of runner VMs."
  type        = number
  default     = 2
}

variable "runner_flavor" {
  description = "Size of each runner: vCPUs and RAM in MiB."
  type = object({
    vcpus  = number
    ram_mb = number
  })
  default = {
    vcpus  = 4
    ram_mb = 8192
  }
}

variable "image_name" {
  description = "Name of the public image for every server, as Selectel lists it."
  type        = string
  default     = "Ubuntu 22.04 LTS 64-bit"
}

variable "bastion_allowed_cidrs" {
  description = "IPv4 CIDRs allowed to SSH to the bastion (the office's, the VPN's, the CI's egress addresses); /0 is refused."
  type        = list(string)
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed on the bastion and the runners (the key itself, not a path)."
  type        = string
}

variable "private_network_cidr" {
  description = "IPv4 CIDR of the private network created for the runners."
  type        = string
  default     = "10.20.0.0/24"
}
