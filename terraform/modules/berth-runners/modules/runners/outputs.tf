output "names" {
  description = "Names of the runner servers, in order."
  value       = openstack_compute_instance_v2.runner[*].name
}

output "private_addresses" {
  description = "Private IPv4 addresses of the runners, in the order of names."
  value       = [for port in openstack_networking_port_v2.runner : port.all_fixed_ips[0]]
}
