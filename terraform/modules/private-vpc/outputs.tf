output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC CIDR."
  value       = aws_vpc.this.cidr_block
}

output "subnet_ids" {
  description = "Private subnet ids by availability zone."
  value       = { for az, s in aws_subnet.private : az => s.id }
}

output "availability_zones" {
  description = "AZs of the private subnets, sorted."
  value       = sort(keys(aws_subnet.private))
}

output "ssm_endpoint_ids" {
  description = "SSM interface endpoint ids by service (ssm, ssmmessages, ec2messages); empty when create_ssm_endpoints is false."
  value       = { for svc, e in aws_vpc_endpoint.ssm : svc => e.id }
}
