output "vpc_id" {
  description = "Provider VPC id."
  value       = module.vpc.vpc_id
}

output "vpc_cidr" {
  description = "Provider VPC CIDR."
  value       = module.vpc.vpc_cidr
}

output "subnet_ids" {
  description = "Private subnet ids by availability zone."
  value       = module.vpc.subnet_ids
}

output "availability_zones" {
  description = "AZs of the provider subnets (the AZs the endpoint service offers)."
  value       = module.vpc.availability_zones
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
  description = "Service name consumers create endpoints to (known once allowed_principals may connect)."
  value       = aws_vpc_endpoint_service.this.service_name
  # An endpoint created before its account is allowed fails; consumers wait on this output.
  depends_on = [aws_vpc_endpoint_service_allowed_principal.this]
}

output "instance_ids" {
  description = "JERP instance ids, in subnet order."
  value       = [for s in var.private_subnets : module.instances.ids[s.availability_zone]]
}

output "instance_private_ips" {
  description = "JERP instance private addresses, in subnet order."
  value       = [for s in var.private_subnets : module.instances.private_ips[s.availability_zone]]
}

output "listener_port" {
  description = "TCP port of the NLB listener, and so of the endpoint."
  value       = aws_lb_listener.tcp.port
}

output "target_port" {
  description = "Port JERP listens on and the target group sends traffic and health checks to."
  value       = aws_lb_target_group.jerp.port
}

output "ssm_endpoint_ids" {
  description = "SSM interface endpoint ids in the provider VPC by service; empty when create_ssm_endpoints is false."
  value       = module.vpc.ssm_endpoint_ids
}

output "instance_role_name" {
  description = "IAM role of the JERP instances (null without an instance profile)."
  value       = module.instances.role_name
}

output "nlb_security_group_id" {
  description = "The NLB's security group (null when nlb_security_group_ingress_cidrs is null: an NLB without security groups)."
  value       = one(aws_security_group.nlb[*].id)
}

output "nlb_enforce_sg_inbound_rules_on_private_link_traffic" {
  description = "on/off as set on the NLB; null or empty for an NLB without security groups (it has no such setting)."
  value       = aws_lb.this.enforce_security_group_inbound_rules_on_private_link_traffic
}

output "target_group_attributes" {
  description = "The JERP target group's settings as applied: cross_zone, deregistration_delay (s), proxy_protocol_v2, and the health check."
  value = {
    cross_zone           = aws_lb_target_group.jerp.load_balancing_cross_zone_enabled
    deregistration_delay = tonumber(aws_lb_target_group.jerp.deregistration_delay)
    proxy_protocol_v2    = aws_lb_target_group.jerp.proxy_protocol_v2
    health_check = {
      path                = aws_lb_target_group.jerp.health_check[0].path
      interval            = aws_lb_target_group.jerp.health_check[0].interval
      timeout             = aws_lb_target_group.jerp.health_check[0].timeout
      healthy_threshold   = aws_lb_target_group.jerp.health_check[0].healthy_threshold
      unhealthy_threshold = aws_lb_target_group.jerp.health_check[0].unhealthy_threshold
    }
  }
}

output "jerp_proxy_protocol" {
  description = "JERP_PROXY_PROTOCOL the instances start JERP with: v2 (reads the target group's header) or off."
  value       = local.jerp_accepts_proxy_protocol_v2 ? "v2" : "off"
}
