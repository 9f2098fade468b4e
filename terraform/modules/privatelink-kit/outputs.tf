output "provider_vpc_id" {
  description = "Provider VPC id."
  value       = module.service.vpc_id
}

output "provider_vpc_cidr" {
  description = "Provider VPC CIDR."
  value       = module.service.vpc_cidr
}

output "consumer_vpc_id" {
  description = "Consumer VPC id."
  value       = module.consumer.vpc_id
}

output "consumer_vpc_cidr" {
  description = "Consumer VPC CIDR."
  value       = module.consumer.vpc_cidr
}

output "nlb_arn" {
  description = "ARN of the internal NLB."
  value       = module.service.nlb_arn
}

output "nlb_dns_name" {
  description = "DNS name of the internal NLB."
  value       = module.service.nlb_dns_name
}

output "target_group_arn" {
  description = "ARN of the JERP target group."
  value       = module.service.target_group_arn
}

output "endpoint_service_id" {
  description = "VPC endpoint service id."
  value       = module.service.endpoint_service_id
}

output "endpoint_service_name" {
  description = "VPC endpoint service name."
  value       = module.service.endpoint_service_name
}

output "endpoint_id" {
  description = "Interface endpoint id."
  value       = module.consumer.endpoint_id
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint."
  value       = module.consumer.endpoint_regional_dns_name
}

output "endpoint_zonal_dns_names" {
  description = "Zonal DNS names of the endpoint by AZ."
  value       = module.consumer.endpoint_zonal_dns_names
}

output "endpoint_eni_ids" {
  description = "Endpoint ENI ids."
  value       = module.consumer.endpoint_eni_ids
}

output "endpoint_security_group_id" {
  description = "Security group of the endpoint ENIs."
  value       = module.consumer.endpoint_security_group_id
}

output "provider_instance_ids" {
  description = "JERP instance ids."
  value       = module.service.instance_ids
}

output "provider_instance_private_ips" {
  description = "JERP instance private addresses."
  value       = module.service.instance_private_ips
}

output "consumer_client_instance_id" {
  description = "Client instance id."
  value       = module.consumer.client_instance_id
}

output "consumer_client_private_ip" {
  description = "Client instance private address."
  value       = module.consumer.client_private_ip
}

output "connection_accepted" {
  description = "Whether this configuration accepted the endpoint connection."
  value       = var.accept_connection
}

output "listener_port" {
  description = "TCP port of the NLB listener: the port consumers use through the endpoint."
  value       = module.service.listener_port
}

output "target_port" {
  description = "Port JERP listens on in the provider instances."
  value       = module.service.target_port
}

output "nlb_security_group_id" {
  description = "The NLB's security group; null for an NLB without security groups (nlb_security_group_ingress_cidrs null)."
  value       = module.service.nlb_security_group_id
}

output "nlb_enforce_sg_inbound_rules_on_private_link_traffic" {
  description = "on/off as set on the NLB; null or empty for an NLB without security groups."
  value       = module.service.nlb_enforce_sg_inbound_rules_on_private_link_traffic
}

output "target_group_attributes" {
  description = "The JERP target group's settings as applied: cross_zone, deregistration_delay (s), proxy_protocol_v2, and the health check."
  value       = module.service.target_group_attributes
}

output "jerp_proxy_protocol" {
  description = "JERP_PROXY_PROTOCOL the JERP instances run with: v2 or off."
  value       = module.service.jerp_proxy_protocol
}
