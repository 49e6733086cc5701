# The module's inputs. Every variable is listed, with its default, in
# ../../README.md (tests/infra/test_terraform.py checks it).

# The caller's openstack provider decides the project (and the region): this
# module has no credentials of its own.

# --- Where ---------------------------------------------------------------------

variable "availability_zone" {
  description = "Availability zone of every server and volume, in the openstack provider's region (ru-9a in ru-9)."
  type        = string
  default     = "ru-9a"

  validation {
    condition     = can(regex("^[a-z]{2}-[0-9]+[a-z]$", var.availability_zone))
    error_message = "availability_zone is a zone name: the region's name and one letter, e.g. \"ru-9a\"."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name: <prefix>-bastion, <prefix>-runner-1, ..."
  type        = string
  default     = "berth"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix: lowercase letters, digits and dashes, starting with a letter, at most 31 characters (it becomes part of host names)."
  }
}

# --- Servers -------------------------------------------------------------------

variable "runners_count" {
  description = "Number of runner VMs."
  type        = number
  default     = 2

  validation {
    condition     = var.runners_count >= 1 && floor(var.runners_count) == var.runners_count
    error_message = "runners_count is a whole number, at least 1."
  }
}

variable "runner_flavor" {
  description = "Size of each runner: vCPUs and RAM in MiB (a private flavor of this size is created). werf builds images on the runner: give it room."
  type = object({
    vcpus  = number
    ram_mb = number
  })
  default = {
    vcpus  = 4
    ram_mb = 8192
  }

  validation {
    condition     = var.runner_flavor.vcpus >= 1 && var.runner_flavor.ram_mb >= 1024
    error_message = "runner_flavor needs at least 1 vCPU and 1024 MiB of RAM."
  }
}

variable "bastion_flavor" {
  description = "Size of the bastion: vCPUs and RAM in MiB (a private flavor of this size is created). It only forwards SSH."
  type = object({
    vcpus  = number
    ram_mb = number
  })
  default = {
    vcpus  = 1
    ram_mb = 1024
  }

  validation {
    condition     = var.bastion_flavor.vcpus >= 1 && var.bastion_flavor.ram_mb >= 1024
    error_message = "bastion_flavor needs at least 1 vCPU and 1024 MiB of RAM."
  }
}

variable "image_name" {
  description = "Name of the public image for every server, as Selectel lists it: \"Ubuntu 22.04 LTS 64-bit\" or \"Debian 12 (Bookworm) 64-bit\". The newest build with that name is used when a volume is created."
  type        = string
  default     = "Ubuntu 22.04 LTS 64-bit"
}

variable "ssh_user" {
  description = "User that the key pair logs in as on the chosen image (Selectel's images install it for root); used in the Ansible inventory and the ProxyJump hop."
  type        = string
  default     = "root"
}

variable "runner_disk_size_gb" {
  description = "Size of each runner's boot volume, GiB (job workspaces, werf's build cache and images live there)."
  type        = number
  default     = 50

  validation {
    condition     = var.runner_disk_size_gb >= 10
    error_message = "runner_disk_size_gb is at least 10."
  }
}

variable "bastion_disk_size_gb" {
  description = "Size of the bastion's boot volume, GiB."
  type        = number
  default     = 10

  validation {
    condition     = var.bastion_disk_size_gb >= 5
    error_message = "bastion_disk_size_gb is at least 5."
  }
}

variable "disk_type" {
  description = "Network volume type without its zone: fast, universal, universal2 or basic. The zone is appended (fast in ru-9a is fast.ru-9a)."
  type        = string
  default     = "fast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*$", var.disk_type))
    error_message = "disk_type is a type name without the zone, such as \"fast\" (not \"fast.ru-9a\")."
  }
}

# --- Access --------------------------------------------------------------------

variable "bastion_allowed_cidrs" {
  description = "IPv4 CIDRs allowed to SSH to the bastion, e.g. the office's and the CI's egress addresses. No default: somebody has to choose; /0 is refused."
  type        = list(string)

  validation {
    condition     = length(var.bastion_allowed_cidrs) > 0
    error_message = "bastion_allowed_cidrs needs at least one CIDR."
  }

  validation {
    condition = alltrue([
      for cidr in var.bastion_allowed_cidrs :
      can(cidrnetmask(cidr)) && try(cidrhost(cidr, 0) == split("/", cidr)[0], false)
    ])
    error_message = "Each bastion_allowed_cidrs entry is an IPv4 CIDR written with its network address, e.g. \"203.0.113.0/24\" or \"198.51.100.7/32\"."
  }

  validation {
    condition     = alltrue([for cidr in var.bastion_allowed_cidrs : !endswith(cidr, "/0")])
    error_message = "bastion_allowed_cidrs must not open SSH to the whole internet (/0)."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed on the bastion and the runners (the contents of ~/.ssh/id_ed25519.pub, not its path)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) ", var.ssh_public_key))
    error_message = "ssh_public_key is one line in OpenSSH format, e.g. \"ssh-ed25519 AAAA... comment\"."
  }
}

# --- Network -------------------------------------------------------------------

variable "existing_network" {
  description = "An existing private network and subnet to put the bastion and the runners in (for example a managed Kubernetes cluster's), or null to create a network, a subnet and a router. The subnet must already be routed to external_network_name: the bastion's floating IP needs that router."
  type = object({
    network_id = string
    subnet_id  = string
  })
  default = null
}

variable "private_network_cidr" {
  description = "IPv4 CIDR of the private network created when existing_network is null (ignored otherwise)."
  type        = string
  default     = "10.20.0.0/24"

  validation {
    condition = (
      can(cidrnetmask(var.private_network_cidr))
      && try(cidrhost(var.private_network_cidr, 0) == split("/", var.private_network_cidr)[0], false)
    )
    error_message = "private_network_cidr is an IPv4 CIDR written with its network address, e.g. \"10.20.0.0/24\"."
  }

  validation {
    # /16 to /28: a /28 still leaves room for the router, DHCP, the bastion
    # and a handful of runners.
    condition     = try(tonumber(split("/", var.private_network_cidr)[1]) >= 16 && tonumber(split("/", var.private_network_cidr)[1]) <= 28, false)
    error_message = "private_network_cidr's prefix length is between /16 and /28."
  }
}

variable "dns_nameservers" {
  description = "DNS resolvers handed out by the DHCP of the network created when existing_network is null (Selectel's resolvers by default; ignored otherwise)."
  type        = list(string)
  default     = ["188.93.16.19", "188.93.17.19"]

  validation {
    condition     = alltrue([for ip in var.dns_nameservers : can(cidrnetmask("${ip}/32"))])
    error_message = "dns_nameservers are IPv4 addresses."
  }
}

variable "external_network_name" {
  description = "Name of Selectel's external network: the router's gateway and the pool of the bastion's floating IP."
  type        = string
  default     = "external-network"
}
