output "network_id" {
  description = "ID of the private network."
  value       = openstack_networking_network_v2.this.id
}

output "subnet_id" {
  description = "ID of the private subnet, once it is attached to the router."
  value       = openstack_networking_subnet_v2.this.id

  # Consumers of the subnet (ports, and above all the bastion's floating IP,
  # which needs a router between the subnet and the external network) must
  # wait for the router interface, not only for the subnet.
  depends_on = [openstack_networking_router_interface_v2.this]
}
