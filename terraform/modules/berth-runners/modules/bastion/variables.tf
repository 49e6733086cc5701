variable "name" {
  description = "Name of the bastion server (and prefix of its other resources)."
  type        = string
}

variable "allowed_cidrs" {
  description = "IPv4 CIDRs allowed to reach the bastion's SSH port."
  type        = list(string)
}

variable "flavor" {
  description = "Size of the bastion: vCPUs and RAM in MiB."
  type = object({
    vcpus  = number
    ram_mb = number
  })
}

variable "image_id" {
  description = "ID of the image the boot volume is made from."
  type        = string
}

variable "disk_size_gb" {
  description = "Size of the boot volume, GiB."
  type        = number
}

variable "volume_type" {
  description = "Volume type of the boot volume, zone included (fast.ru-9a)."
  type        = string
}

variable "availability_zone" {
  description = "Availability zone of the server and its volume."
  type        = string
}

variable "network_id" {
  description = "ID of the private network."
  type        = string
}

variable "subnet_id" {
  description = "ID of the private subnet (attached to a router with an external gateway)."
  type        = string
}

variable "floating_ip_pool" {
  description = "Name of the external network that floating IPs come from."
  type        = string
}

variable "key_pair" {
  description = "Name of the key pair installed on the server."
  type        = string
}
