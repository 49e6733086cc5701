output "project_id" {
  description = "ID of the project (the OpenStack tenant ID)."
  value       = selectel_vpc_project_v2.this.id
}

output "user_name" {
  description = "Name of the project-scoped service user."
  value       = selectel_iam_serviceuser_v1.this.name
}

output "user_password" {
  description = "Password of the project-scoped service user."
  value       = selectel_iam_serviceuser_v1.this.password
  sensitive   = true
}
