# Modules name the provider's source (a provider outside the hashicorp
# namespace would otherwise be looked up as hashicorp/selectel); the versions
# are pinned once, in the root module.
terraform {
  required_providers {
    selectel = {
      source = "selectel/selectel"
    }
  }
}
