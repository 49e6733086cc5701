variable "name_prefix" {
  description = "Prefix of the names of the network, subnet and router."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR of the private subnet."
  type        = string
}

variable "dns_nameservers" {
  description = "DNS resolvers handed out by the subnet's DHCP."
  type        = list(string)
}

variable "external_network_name" {
  description = "Name of the provider's external network (the router's gateway and the floating IP pool)."
  type        = string
}
