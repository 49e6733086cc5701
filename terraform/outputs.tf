output "project_id" {
  description = "ID of the Selectel project holding the runners."
  value       = module.project.project_id
}

output "bastion_public_address" {
  description = "Public IPv4 address of the bastion: ssh <ssh_user>@<this address>."
  value       = module.bastion.public_address
}

output "runner_private_addresses" {
  description = "Private IPv4 addresses of the runners, reachable through the bastion only."
  value       = module.runners.private_addresses
}

# Feeds ../ansible: terraform output -raw ansible_inventory > ../ansible/inventory/terraform.yml
output "ansible_inventory" {
  description = "Ansible inventory (YAML): group berth_runners, reached through the bastion with ProxyJump."
  value = templatefile("${path.module}/templates/inventory.yml.tftpl", {
    runners = [
      for i, name in module.runners.names : {
        name    = name
        address = module.runners.private_addresses[i]
      }
    ]
    ssh_user        = var.ssh_user
    bastion_address = module.bastion.public_address
  })
}
