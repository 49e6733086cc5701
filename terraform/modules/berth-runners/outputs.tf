# What Ansible needs: the rendered inventory (ansible_inventory), and the same
# facts as values for callers that write their own inventory or feed another
# tool (runners, bastion_public_address, ssh_user, ssh_common_args).

locals {
  runners = [
    for i, name in module.runners.names : {
      name    = name
      address = module.runners.private_addresses[i]
    }
  ]
  ssh_common_args = "-o ProxyJump=${var.ssh_user}@${module.bastion.public_address}"
}

output "bastion_public_address" {
  description = "Public IPv4 address of the bastion: ssh <ssh_user>@<this address>."
  value       = module.bastion.public_address
}

output "bastion_private_address" {
  description = "The bastion's address on the private network."
  value       = module.bastion.private_address
}

output "runner_names" {
  description = "Names of the runner servers (the inventory's host names), in order."
  value       = module.runners.names
}

output "runner_private_addresses" {
  description = "Private IPv4 addresses of the runners, in the order of runner_names; reachable through the bastion only."
  value       = module.runners.private_addresses
}

output "runners" {
  description = "The runners as a list of { name, address } objects, in order."
  value       = local.runners
}

output "ssh_user" {
  description = "User Ansible and the ProxyJump hop log in as (the inventory's ansible_user)."
  value       = var.ssh_user
}

output "ssh_common_args" {
  description = "SSH options that reach a runner through the bastion (the inventory's ansible_ssh_common_args)."
  value       = local.ssh_common_args
}

output "network_id" {
  description = "ID of the private network the servers are on (created here, or existing_network's)."
  value       = local.network_id
}

output "subnet_id" {
  description = "ID of the private subnet the servers are on (created here, or existing_network's)."
  value       = local.subnet_id
}

output "network_created" {
  description = "true when this module created the network, subnet and router; false when it used existing_network."
  value       = local.create_network
}

# terraform output -raw ansible_inventory > ansible/inventory/terraform.yml
output "ansible_inventory" {
  description = "Ansible inventory (YAML): group berth_runners, reached through the bastion with ProxyJump."
  value = templatefile("${path.module}/templates/inventory.yml.tftpl", {
    runners         = local.runners
    ssh_user        = var.ssh_user
    ssh_common_args = local.ssh_common_args
  })
}
