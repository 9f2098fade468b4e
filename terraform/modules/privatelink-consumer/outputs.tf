locals {
  dns_names = [for e in aws_vpc_endpoint.jerp.dns_entry : e.dns_name]
  # AWS lists the regional name first, then one zonal name per AZ: vpce-<id>-<8>-<az>.vpce-svc-...
  zonal = {
    for name in local.dns_names :
    regex("^vpce-[0-9a-f]+-[0-9a-z]+-([a-z]{2}(?:-gov)?-[a-z]+-[0-9][a-z])\\.", name)[0] => name
    if can(regex("^vpce-[0-9a-f]+-[0-9a-z]+-([a-z]{2}(?:-gov)?-[a-z]+-[0-9][a-z])\\.", name))
  }
}

output "vpc_id" {
  description = "Consumer VPC id."
  value       = module.vpc.vpc_id
}

output "vpc_cidr" {
  description = "Consumer VPC CIDR."
  value       = module.vpc.vpc_cidr
}

output "endpoint_id" {
  description = "Interface endpoint id (vpce-...)."
  value       = aws_vpc_endpoint.jerp.id
}

output "service_name" {
  description = "Endpoint service name the endpoint connects to."
  value       = aws_vpc_endpoint.jerp.service_name
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint; resolves to every endpoint ENI."
  value       = [for n in local.dns_names : n if !contains(values(local.zonal), n)][0]
}

output "endpoint_zonal_dns_names" {
  description = "Zonal DNS names of the endpoint by availability zone."
  value       = local.zonal
}

output "endpoint_eni_ids" {
  description = "Endpoint network interface ids, one per consumer subnet."
  value       = sort(tolist(aws_vpc_endpoint.jerp.network_interface_ids))
}

output "endpoint_security_group_id" {
  description = "Security group of the endpoint ENIs."
  value       = aws_security_group.endpoint.id
}

output "client_instance_id" {
  description = "Client instance id (null when create_client_instance is false)."
  value       = lookup(module.instances.ids, "client", null)
}

output "client_private_ip" {
  description = "Client instance private address (null when create_client_instance is false)."
  value       = lookup(module.instances.private_ips, "client", null)
}

output "subnet_ids" {
  description = "Consumer subnet ids by availability zone."
  value       = module.vpc.subnet_ids
}

output "ssm_endpoint_ids" {
  description = "SSM interface endpoint ids in the consumer VPC by service; empty when create_ssm_endpoints is false."
  value       = module.vpc.ssm_endpoint_ids
}
