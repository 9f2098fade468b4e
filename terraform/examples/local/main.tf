# The kit on LocalStack with the kit's plug-in (`make deploy` starts one on 127.0.0.1:4566; so
# does `python -m harness localstack start`). One account, so one provider serves both sides.
#
#   terraform init && terraform apply -var wheelhouse_dir=$PWD/../../../.harness/wheelhouse

variable "localstack_endpoint" {
  type        = string
  description = "URL of LocalStack's gateway."
  default     = "http://127.0.0.1:4566"
  validation {
    condition     = can(regex("^https?://[^/\\s]+$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be a URL such as http://127.0.0.1:4566 (no path)."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels for the JERP instances (`make wheelhouse` builds .harness/wheelhouse)."
}

provider "aws" {
  region = "ap-northeast-2"
  #checkov:skip=CKV_AWS_41:these are LocalStack's documented dummy credentials, not secrets
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    ec2   = var.localstack_endpoint
    elbv2 = var.localstack_endpoint
    iam   = var.localstack_endpoint
    s3    = var.localstack_endpoint
    sts   = var.localstack_endpoint
  }
}

module "kit" {
  source    = "../../modules/privatelink-kit"
  providers = { aws = aws, aws.consumer = aws }

  ami_id         = "ami-03cf127a" # one of the sample images LocalStack's EC2 registers
  wheelhouse_dir = var.wheelhouse_dir
  provider_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.10.3.0/24" },
  ]
  consumer_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.20.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.20.3.0/24" },
  ]
  allowed_principals = ["arn:aws:iam::000000000000:root"] # LocalStack's default account
  # LocalStack's EC2 cannot see instance profiles, and commands reach its hosts without SSM.
  attach_instance_profile = false
  create_ssm_endpoints    = false
}

output "endpoint_regional_dns_name" {
  description = "Regional DNS name of the endpoint: curl http://<this>/user/yundream from the consumer."
  value       = module.kit.endpoint_regional_dns_name
}

output "nlb_dns_name" {
  description = "DNS name of the internal NLB in the provider VPC."
  value       = module.kit.nlb_dns_name
}
