# Runners for berth beside an existing managed Kubernetes cluster: in its
# project, on its private network and subnet (which Selectel's managed
# Kubernetes routes to external-network, as the bastion's floating IP needs).
# Nothing of the cluster is changed: the module adds servers, ports, volumes,
# two security groups, a key pair, private flavors and a floating IP.

module "berth_runners" {
  source = "../../modules/berth-runners"

  existing_network = {
    network_id = var.network_id
    subnet_id  = var.subnet_id
  }

  # What a team usually sets; every other input of the module keeps its
  # default (../../README.md lists them all).
  name_prefix           = var.name_prefix
  availability_zone     = var.availability_zone
  runners_count         = var.runners_count
  runner_flavor         = var.runner_flavor
  image_name            = var.image_name
  bastion_allowed_cidrs = var.bastion_allowed_cidrs
  ssh_public_key        = var.ssh_public_key
}
