output "bastion_public_address" {
  description = "Public IPv4 address of the bastion: ssh <ssh_user>@<this address>."
  value       = module.berth_runners.bastion_public_address
}

output "runner_private_addresses" {
  description = "Private IPv4 addresses of the runners on the cluster's subnet, reachable through the bastion only."
  value       = module.berth_runners.runner_private_addresses
}

# terraform output -raw ansible_inventory > ../../../ansible/inventory/terraform.yml
output "ansible_inventory" {
  description = "Ansible inventory (YAML): group berth_runners, reached through the bastion with ProxyJump."
  value       = module.berth_runners.ansible_inventory
}
