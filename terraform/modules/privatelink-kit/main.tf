# The seed's whole PrivateLink wiring: provider side, consumer side, and the acceptance, in one
# account or two (the service in `aws`, the endpoint in `aws.consumer`).

# AZ names are per account (ap-northeast-2a in one account may be another account's 2c); AZ
# ids are not. The consumer may use the AZs whose ids the service's subnets have.
data "aws_availability_zones" "service" {
  #checkov:skip=CKV_AWS_394:a name-to-zone-id lookup table; a new AZ adds a row and changes no resource
}

data "aws_availability_zones" "consumer" {
  #checkov:skip=CKV_AWS_394:a name-to-zone-id lookup table; a new AZ adds a row and changes no resource
  provider = aws.consumer
}

locals {
  service_zone_ids = [
    for az in module.service.availability_zones :
    data.aws_availability_zones.service.zone_ids[index(data.aws_availability_zones.service.names, az)]
    if contains(data.aws_availability_zones.service.names, az)
  ]
  service_azs_for_consumer = [
    for i, id in data.aws_availability_zones.consumer.zone_ids :
    data.aws_availability_zones.consumer.names[i] if contains(local.service_zone_ids, id)
  ]
}

module "service" {
  source = "../privatelink-provider"

  name                             = var.name
  vpc_cidr                         = var.provider_vpc_cidr
  private_subnets                  = var.provider_subnets
  ami_id                           = var.ami_id
  listener_port                    = var.listener_port
  target_port                      = var.target_port
  acceptance_required              = var.acceptance_required
  allowed_principals               = var.allowed_principals
  enable_cross_zone_load_balancing = var.enable_cross_zone_load_balancing
  target_group_cross_zone          = var.target_group_cross_zone
  health_check                     = var.health_check
  deregistration_delay             = var.deregistration_delay
  proxy_protocol_v2                = var.proxy_protocol_v2
  jerp_accepts_proxy_protocol_v2   = var.jerp_accepts_proxy_protocol_v2
  nlb_security_group_ingress_cidrs = var.nlb_security_group_ingress_cidrs
  wheelhouse_dir                   = var.wheelhouse_dir
  attach_instance_profile          = var.attach_instance_profile
  create_ssm_endpoints             = var.create_ssm_endpoints
  tags                             = var.tags

  enforce_sg_inbound_rules_on_private_link_traffic = var.enforce_sg_inbound_rules_on_private_link_traffic
}

module "consumer" {
  source    = "../privatelink-consumer"
  providers = { aws = aws.consumer }

  name                       = var.name
  vpc_cidr                   = var.consumer_vpc_cidr
  private_subnets            = var.consumer_subnets
  service_name               = module.service.endpoint_service_name
  service_availability_zones = local.service_azs_for_consumer
  endpoint_port              = var.listener_port
  ami_id                     = coalesce(var.consumer_ami_id, var.ami_id)
  attach_instance_profile    = var.attach_instance_profile
  create_ssm_endpoints       = var.create_ssm_endpoints
  tags                       = var.tags
}

# The provider account accepts (in one account, or across two when this configuration has
# both). Otherwise set accept_connection = false and have the provider account run
# `aws ec2 accept-vpc-endpoint-connections` (README).
resource "aws_vpc_endpoint_connection_accepter" "this" {
  count                   = var.accept_connection ? 1 : 0
  vpc_endpoint_service_id = module.service.endpoint_service_id
  vpc_endpoint_id         = module.consumer.endpoint_id
}
