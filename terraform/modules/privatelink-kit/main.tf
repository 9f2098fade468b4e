# The seed's whole PrivateLink wiring: provider side, consumer side, and the acceptance.

module "service" {
  source = "../privatelink-provider"

  name                             = var.name
  vpc_cidr                         = var.provider_vpc_cidr
  private_subnets                  = var.provider_subnets
  ami_id                           = var.ami_id
  acceptance_required              = var.acceptance_required
  allowed_principals               = var.allowed_principals
  enable_cross_zone_load_balancing = var.enable_cross_zone_load_balancing
  wheelhouse_dir                   = var.wheelhouse_dir
  attach_instance_profile          = var.attach_instance_profile
  tags                             = var.tags
}

module "consumer" {
  source = "../privatelink-consumer"

  name                       = var.name
  vpc_cidr                   = var.consumer_vpc_cidr
  private_subnets            = var.consumer_subnets
  service_name               = module.service.endpoint_service_name
  service_availability_zones = module.service.availability_zones
  ami_id                     = var.ami_id
  enable_ssm_endpoints       = var.enable_ssm_endpoints
  attach_instance_profile    = var.attach_instance_profile
  tags                       = var.tags
}

# Same account: the provider accepts here. Cross-account: set accept_connection = false and
# have the provider account run `aws ec2 accept-vpc-endpoint-connections` (README).
resource "aws_vpc_endpoint_connection_accepter" "this" {
  count                   = var.accept_connection ? 1 : 0
  vpc_endpoint_service_id = module.service.endpoint_service_id
  vpc_endpoint_id         = module.consumer.endpoint_id
}
