# Shared by every stack (symlinked as kit.tf): the variables, the module call and the outputs.
# A stack adds only its provider configuration and the locals stack, ami_id,
# allowed_principals, create_ssm_endpoints and attach_instance_profile.

variable "region" {
  type        = string
  description = "AWS region (the seed's is ap-northeast-2)."
  default     = "ap-northeast-2"
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "name" {
  type        = string
  description = "Name prefix of every resource."
  default     = "jerp"
}

variable "availability_zone_suffixes" {
  type        = list(string)
  description = "AZs to use, as letters after the region (the seed uses a and c)."
  default     = ["a", "c"]
  nullable    = false
  validation {
    condition     = length(var.availability_zone_suffixes) >= 1 && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "availability_zone_suffixes must be single letters such as [\"a\", \"c\"]."
  }
  validation {
    condition     = length(distinct(var.availability_zone_suffixes)) == length(var.availability_zone_suffixes)
    error_message = "availability_zone_suffixes lists an AZ twice: list each once, e.g. [\"a\", \"c\"]."
  }
}

variable "provider_vpc_cidr" {
  type        = string
  description = "Provider VPC CIDR; subnets are its /24s number 1, 3, 5, ... (10.10.1.0/24, 10.10.3.0/24 as in the seed)."
  default     = "10.10.0.0/16"
  nullable    = false
  validation {
    # Room for the /24 number 2i+1 of every AZ; the kit checks the rest of the CIDR.
    condition     = try(pow(2, 24 - tonumber(split("/", var.provider_vpc_cidr)[1])) >= 2 * length(var.availability_zone_suffixes), false)
    error_message = "provider_vpc_cidr must be large enough for one /24 per AZ at /24 numbers 1, 3, 5, ...: use a /16 such as 10.10.0.0/16."
  }
}

variable "consumer_vpc_cidr" {
  type        = string
  description = "Consumer VPC CIDR; subnets numbered like the provider's."
  default     = "10.20.0.0/16"
  nullable    = false
  validation {
    # Room for the /24 number 2i+1 of every AZ; the kit checks the rest of the CIDR.
    condition     = try(pow(2, 24 - tonumber(split("/", var.consumer_vpc_cidr)[1])) >= 2 * length(var.availability_zone_suffixes), false)
    error_message = "consumer_vpc_cidr must be large enough for one /24 per AZ at /24 numbers 1, 3, 5, ...: use a /16 such as 10.20.0.0/16."
  }
}

variable "acceptance_required" {
  type        = bool
  description = "Endpoint connections wait for acceptance."
  default     = true
}

variable "accept_connection" {
  type        = bool
  description = "Accept the endpoint connection in this configuration (same account)."
  default     = true
}

variable "enable_cross_zone_load_balancing" {
  type        = bool
  description = "NLB cross-zone load balancing."
  default     = false
}

# The target group's and the NLB's settings, passed to the kit as they are (the kit validates
# them; its variables.tf says what each does).

variable "target_group_cross_zone" {
  type        = string
  description = "Target group load_balancing.cross_zone.enabled: \"true\", \"false\" or \"use_load_balancer_configuration\"."
  default     = "use_load_balancer_configuration"
}

variable "health_check" {
  type = object({
    path                = optional(string, "/healthz")
    interval            = optional(number, 5)
    timeout             = optional(number, 4) # at most the interval (AWS's HTTP default, 6 s, is not)
    healthy_threshold   = optional(number, 2)
    unhealthy_threshold = optional(number, 2)
  })
  description = "HTTP health check of the JERP targets (interval 5-300 s, thresholds 2-10)."
  default     = {}
}

variable "deregistration_delay" {
  type        = number
  description = "Seconds a deregistered target drains (0-3600)."
  default     = 30
}

variable "proxy_protocol_v2" {
  type        = bool
  description = "The target group sends a PROXY v2 header; JERP is started to read it."
  default     = false
}

variable "jerp_accepts_proxy_protocol_v2" {
  type        = bool
  description = "JERP reads PROXY v2; null follows proxy_protocol_v2."
  default     = null
}

variable "nlb_security_group_ingress_cidrs" {
  type        = list(string)
  description = "CIDRs the NLB's security group admits on the listener port; null: an NLB without security groups."
  default     = null
}

variable "enforce_sg_inbound_rules_on_private_link_traffic" {
  type        = string
  description = "\"on\" or \"off\": whether PrivateLink traffic must pass the NLB security group's inbound rules."
  default     = "on"
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels for the JERP instances (`make wheelhouse`)."
}

locals {
  azs = [for s in var.availability_zone_suffixes : "${var.region}${s}"]
  # /24 number 2i+1 of each VPC: 10.10.1.0/24, 10.10.3.0/24, ... as in the seed.
  subnet_bits = 24 - tonumber(split("/", var.provider_vpc_cidr)[1])
}

module "kit" {
  source = "../../modules/privatelink-kit"
  # One account: the same provider configuration serves both sides.
  providers = { aws = aws, aws.consumer = aws }

  name                             = var.name
  ami_id                           = local.ami_id
  provider_vpc_cidr                = var.provider_vpc_cidr
  provider_subnets                 = [for i, az in local.azs : { availability_zone = az, cidr_block = cidrsubnet(var.provider_vpc_cidr, local.subnet_bits, 2 * i + 1) }]
  consumer_vpc_cidr                = var.consumer_vpc_cidr
  consumer_subnets                 = [for i, az in local.azs : { availability_zone = az, cidr_block = cidrsubnet(var.consumer_vpc_cidr, 24 - tonumber(split("/", var.consumer_vpc_cidr)[1]), 2 * i + 1) }]
  acceptance_required              = var.acceptance_required
  accept_connection                = var.accept_connection
  allowed_principals               = local.allowed_principals
  enable_cross_zone_load_balancing = var.enable_cross_zone_load_balancing
  target_group_cross_zone          = var.target_group_cross_zone
  health_check                     = var.health_check
  deregistration_delay             = var.deregistration_delay
  proxy_protocol_v2                = var.proxy_protocol_v2
  jerp_accepts_proxy_protocol_v2   = var.jerp_accepts_proxy_protocol_v2
  nlb_security_group_ingress_cidrs = var.nlb_security_group_ingress_cidrs
  create_ssm_endpoints             = local.create_ssm_endpoints
  attach_instance_profile          = local.attach_instance_profile
  wheelhouse_dir                   = var.wheelhouse_dir
  tags                             = { Project = "jerp-privatelink-kit", Stack = local.stack }

  enforce_sg_inbound_rules_on_private_link_traffic = var.enforce_sg_inbound_rules_on_private_link_traffic
}

output "region" {
  description = "Region of the deployment."
  value       = var.region
}

output "provider_vpc_id" {
  description = "Provider VPC id."
  value       = module.kit.provider_vpc_id
}

output "provider_vpc_cidr" {
  description = "Provider VPC CIDR."
  value       = module.kit.provider_vpc_cidr
}

output "consumer_vpc_id" {
  description = "Consumer VPC id."
  value       = module.kit.consumer_vpc_id
}

output "consumer_vpc_cidr" {
  description = "Consumer VPC CIDR."
  value       = module.kit.consumer_vpc_cidr
}

output "nlb_arn" {
  description = "ARN of the internal NLB."
  value       = module.kit.nlb_arn
}

output "nlb_dns_name" {
  description = "DNS name of the internal NLB."
  value       = module.kit.nlb_dns_name
}

output "target_group_arn" {
  description = "ARN of the JERP target group."
  value       = module.kit.target_group_arn
}

output "endpoint_service_id" {
  description = "VPC endpoint service id."
  value       = module.kit.endpoint_service_id
}

output "endpoint_service_name" {
  description = "VPC endpoint service name."
  value       = module.kit.endpoint_service_name
}

output "endpoint_id" {
  description = "Interface endpoint id."
  value       = module.kit.endpoint_id
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint."
  value       = module.kit.endpoint_regional_dns_name
}

output "endpoint_zonal_dns_names" {
  description = "Zonal DNS names of the endpoint by AZ."
  value       = module.kit.endpoint_zonal_dns_names
}

output "endpoint_eni_ids" {
  description = "Endpoint ENI ids."
  value       = module.kit.endpoint_eni_ids
}

output "endpoint_security_group_id" {
  description = "Security group of the endpoint ENIs."
  value       = module.kit.endpoint_security_group_id
}

output "provider_instance_ids" {
  description = "JERP instance ids."
  value       = module.kit.provider_instance_ids
}

output "provider_instance_private_ips" {
  description = "JERP instance private addresses."
  value       = module.kit.provider_instance_private_ips
}

output "consumer_client_instance_id" {
  description = "Client instance id."
  value       = module.kit.consumer_client_instance_id
}

output "consumer_client_private_ip" {
  description = "Client instance private address."
  value       = module.kit.consumer_client_private_ip
}

output "listener_port" {
  description = "TCP port of the NLB listener (the port through the endpoint)."
  value       = module.kit.listener_port
}

output "target_port" {
  description = "Port JERP listens on in the provider instances."
  value       = module.kit.target_port
}

output "nlb_security_group_id" {
  description = "The NLB's security group; null for an NLB without security groups."
  value       = module.kit.nlb_security_group_id
}

output "target_group_attributes" {
  description = "The JERP target group's settings as applied: cross_zone, deregistration_delay, proxy_protocol_v2, health_check."
  value       = module.kit.target_group_attributes
}

output "jerp_proxy_protocol" {
  description = "JERP_PROXY_PROTOCOL the JERP instances run with: v2 or off."
  value       = module.kit.jerp_proxy_protocol
}
