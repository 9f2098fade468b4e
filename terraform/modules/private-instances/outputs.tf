output "ids" {
  description = "Instance ids by key of var.instances."
  value       = { for k, i in aws_instance.this : k => i.id }
}

output "private_ips" {
  description = "Instance private addresses by key of var.instances."
  value       = { for k, i in aws_instance.this : k => i.private_ip }
}

output "role_name" {
  description = "Name of the instances' IAM role (null when attach_instance_profile is false or there are no instances)."
  value       = one(aws_iam_role.this[*].name)
}

output "instance_profile_name" {
  description = "Name of the instance profile (null when there is none)."
  value       = one(aws_iam_instance_profile.this[*].name)
}
