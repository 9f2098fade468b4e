output "vpc_id" {
  description = "Provider VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "Provider VPC CIDR."
  value       = aws_vpc.this.cidr_block
}

output "subnet_ids" {
  description = "Private subnet ids by availability zone."
  value       = { for az, s in aws_subnet.private : az => s.id }
}

output "availability_zones" {
  description = "AZs of the provider subnets (the AZs the endpoint service offers)."
  value       = sort(keys(aws_subnet.private))
}

output "nlb_arn" {
  description = "ARN of the internal Network Load Balancer."
  value       = aws_lb.this.arn
}

output "nlb_dns_name" {
  description = "DNS name of the NLB; it resolves to private addresses in the provider subnets."
  value       = aws_lb.this.dns_name
}

output "target_group_arn" {
  description = "ARN of the JERP target group."
  value       = aws_lb_target_group.jerp.arn
}

output "endpoint_service_id" {
  description = "Id of the VPC endpoint service (vpce-svc-...)."
  value       = aws_vpc_endpoint_service.this.id
}

output "endpoint_service_name" {
  description = "Service name consumers create endpoints to."
  value       = aws_vpc_endpoint_service.this.service_name
}

output "instance_ids" {
  description = "JERP instance ids, in subnet order."
  value       = [for s in var.private_subnets : aws_instance.jerp[s.availability_zone].id]
}

output "instance_private_ips" {
  description = "JERP instance private addresses, in subnet order."
  value       = [for s in var.private_subnets : aws_instance.jerp[s.availability_zone].private_ip]
}
