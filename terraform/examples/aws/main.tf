# The kit in one AWS account (the seed's setup): the account allows itself on the service and
# accepts the connection in the same apply. Credentials come from the environment.
#
#   terraform init && terraform apply -var wheelhouse_dir=$PWD/../../../.harness/wheelhouse

variable "region" {
  type        = string
  description = "AWS region (the seed's is ap-northeast-2)."
  default     = "ap-northeast-2"
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels for the JERP instances (`make wheelhouse` builds .harness/wheelhouse)."
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

# Amazon Linux 2023, the image the JERP user_data is written for.
data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

module "kit" {
  source    = "../../modules/privatelink-kit"
  providers = { aws = aws, aws.consumer = aws }

  ami_id         = nonsensitive(data.aws_ssm_parameter.al2023.value)
  wheelhouse_dir = var.wheelhouse_dir
  provider_subnets = [
    { availability_zone = "${var.region}a", cidr_block = "10.10.1.0/24" },
    { availability_zone = "${var.region}c", cidr_block = "10.10.3.0/24" },
  ]
  consumer_subnets = [
    { availability_zone = "${var.region}a", cidr_block = "10.20.1.0/24" },
    { availability_zone = "${var.region}c", cidr_block = "10.20.3.0/24" },
  ]
  allowed_principals = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
  # The checks run commands on the instances through SSM; the VPCs have no internet.
  create_ssm_endpoints = true
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint: curl http://<this>/user/yundream from the client."
  value       = module.kit.endpoint_regional_dns_name
}

output "consumer_client_instance_id" {
  description = "Client instance; reach it with `aws ssm start-session --target <this>`."
  value       = module.kit.consumer_client_instance_id
}
