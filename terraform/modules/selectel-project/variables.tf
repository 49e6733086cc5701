variable "project_name" {
  description = "Name of the Selectel project to create."
  type        = string
}

variable "user_name" {
  description = "Name of the project-scoped service user to create."
  type        = string
}

variable "user_password" {
  description = "Password of the project-scoped service user."
  type        = string
  sensitive   = true
}
