variable "name_prefix" {
  description = "Prefix of the runners' names: <prefix>-runner-1, <prefix>-runner-2, ..."
  type        = string
}

variable "runners_count" {
  description = "Number of runner servers."
  type        = number
}

variable "flavor" {
  description = "Size of each runner: vCPUs and RAM in MiB."
  type = object({
    vcpus  = number
    ram_mb = number
  })
}

variable "image_id" {
  description = "ID of the image the boot volumes are made from."
  type        = string
}

variable "disk_size_gb" {
  description = "Size of each runner's boot volume, GiB."
  type        = number
}

variable "volume_type" {
  description = "Volume type of the boot volumes, zone included (fast.ru-9a)."
  type        = string
}

variable "availability_zone" {
  description = "Availability zone of the servers and their volumes."
  type        = string
}

variable "network_id" {
  description = "ID of the private network."
  type        = string
}

variable "subnet_id" {
  description = "ID of the private subnet."
  type        = string
}

variable "key_pair" {
  description = "Name of the key pair installed on the servers."
  type        = string
}

variable "bastion_security_group_id" {
  description = "ID of the bastion's security group, the only source allowed to SSH to the runners."
  type        = string
}
