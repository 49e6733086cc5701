output "public_address" {
  description = "The bastion's floating (public) IPv4 address."
  value       = openstack_networking_floatingip_v2.bastion.address
  # Usable only once the address is bound to the bastion's port.
  depends_on = [openstack_networking_floatingip_associate_v2.bastion]
}

output "private_address" {
  description = "The bastion's address on the private network."
  value       = openstack_networking_port_v2.bastion.all_fixed_ips[0]
}

output "security_group_id" {
  description = "ID of the bastion's security group (the runners allow SSH from its members)."
  value       = openstack_networking_secgroup_v2.bastion.id
}
