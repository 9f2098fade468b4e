# JERP served from account A and consumed from account B: the service and its accepter use
# provider aws.a, the endpoint and the client use aws.b. A allows B's root principal on the
# service before B creates the endpoint; A accepts the connection, all in one apply.
#
#   terraform init && terraform apply -var service_profile=a -var consumer_profile=b \
#     -var wheelhouse_dir=$PWD/../../../.harness/wheelhouse

variable "region" {
  type        = string
  description = "AWS region of both sides (PrivateLink endpoints connect within a region)."
  default     = "ap-northeast-2"
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "service_profile" {
  type        = string
  description = "AWS CLI profile of account A, which runs JERP and the endpoint service."
}

variable "consumer_profile" {
  type        = string
  description = "AWS CLI profile of account B, which creates the endpoint."
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "AZ ids (not names: names differ between accounts) for both sides, e.g. apne2-az1."
  default     = ["apne2-az1", "apne2-az3"]
  validation {
    condition     = length(var.availability_zone_ids) >= 1 && length(distinct(var.availability_zone_ids)) == length(var.availability_zone_ids) && alltrue([for z in var.availability_zone_ids : can(regex("^[a-z]+[0-9]+-az[0-9]+$", z))])
    error_message = "availability_zone_ids must list AZ ids such as apne2-az1, each once (`aws ec2 describe-availability-zones` shows ZoneId)."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels for the JERP instances (`make wheelhouse` builds .harness/wheelhouse)."
}

provider "aws" {
  alias   = "a"
  region  = var.region
  profile = var.service_profile
}

provider "aws" {
  alias   = "b"
  region  = var.region
  profile = var.consumer_profile
}

data "aws_caller_identity" "b" {
  provider = aws.b
}

data "aws_availability_zones" "a" {
  #checkov:skip=CKV_AWS_394:a name-to-zone-id lookup table; a new AZ adds a row and changes no resource
  provider = aws.a
}

data "aws_availability_zones" "b" {
  #checkov:skip=CKV_AWS_394:a name-to-zone-id lookup table; a new AZ adds a row and changes no resource
  provider = aws.b
}

# A public AMI id is the same in every account of a region.
data "aws_ssm_parameter" "al2023" {
  provider = aws.a
  name     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  az_a = { for i, id in data.aws_availability_zones.a.zone_ids : id => data.aws_availability_zones.a.names[i] }
  az_b = { for i, id in data.aws_availability_zones.b.zone_ids : id => data.aws_availability_zones.b.names[i] }
}

module "kit" {
  source    = "../../modules/privatelink-kit"
  providers = { aws = aws.a, aws.consumer = aws.b }

  ami_id         = nonsensitive(data.aws_ssm_parameter.al2023.value)
  wheelhouse_dir = var.wheelhouse_dir
  provider_subnets = [
    for i, id in var.availability_zone_ids : { availability_zone = local.az_a[id], cidr_block = cidrsubnet("10.10.0.0/16", 8, 2 * i + 1) }
  ]
  consumer_subnets = [
    for i, id in var.availability_zone_ids : { availability_zone = local.az_b[id], cidr_block = cidrsubnet("10.20.0.0/16", 8, 2 * i + 1) }
  ]
  allowed_principals = ["arn:aws:iam::${data.aws_caller_identity.b.account_id}:root"]
  # The accepter runs as account A (the kit's default provider).
  acceptance_required  = true
  accept_connection    = true
  create_ssm_endpoints = true
}

output "endpoint_service_name" {
  description = "Service name in account A (what account B's endpoint connects to)."
  value       = module.kit.endpoint_service_name
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint in account B."
  value       = module.kit.endpoint_regional_dns_name
}

output "consumer_client_instance_id" {
  description = "Client instance in account B; `aws ssm start-session --profile <B> --target <this>`."
  value       = module.kit.consumer_client_instance_id
}
