# The local stack across two accounts: JERP, the NLB and the endpoint service in account A
# (provider `aws`), the consumer VPC, its endpoint and the client in account B (provider
# `aws.consumer`), on one LocalStack. LocalStack takes a 12-digit access key as the account
# id, so each provider configuration below is one account.

variable "localstack_endpoint" {
  type = string
  # The harness passes null and sets AWS_ENDPOINT_URL instead: the provider validates an
  # `endpoints` block (an object of some 300 services) for 3-4 s on every plan and apply.
  description = "URL of LocalStack's gateway; null takes it from AWS_ENDPOINT_URL (as `make deploy` does)."
  default     = "http://127.0.0.1:4566"
  validation {
    condition     = var.localstack_endpoint == null || can(regex("^https?://[^/\\s]+$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be a URL such as http://127.0.0.1:4566 (no path)."
  }
}

variable "ami_id" {
  type        = string
  description = "An image LocalStack knows (its EC2 emulation registers a set of sample AMIs)."
  default     = "ami-03cf127a"
}

variable "service_account_id" {
  type        = string
  description = "Account A, which runs JERP and the endpoint service (LocalStack: any 12 digits)."
  default     = "111111111111"
  validation {
    condition     = can(regex("^[0-9]{12}$", var.service_account_id))
    error_message = "service_account_id must be 12 digits, such as 111111111111."
  }
}

variable "consumer_account_id" {
  type        = string
  description = "Account B, which creates the endpoint (LocalStack: any 12 digits other than A's)."
  default     = "222222222222"
  validation {
    condition     = can(regex("^[0-9]{12}$", var.consumer_account_id))
    error_message = "consumer_account_id must be 12 digits, such as 222222222222."
  }
}

locals {
  stack  = "local-cross-account"
  ami_id = var.ami_id
  # Only B may create endpoints to A's service; A accepts (the kit's accepter runs as `aws`).
  allowed_principals      = ["arn:aws:iam::${var.consumer_account_id}:root"]
  attach_instance_profile = false # LocalStack EC2 cannot see IAM instance profiles
  create_ssm_endpoints    = false
  # LocalStack's endpoints; its AZ names are the same in every account, so the shared
  # per-suffix subnets line up on both sides (on AWS, map by AZ id: examples/cross-account).
  # No `endpoints` block when the endpoint comes from AWS_ENDPOINT_URL (see the variable).
  localstack_endpoints = var.localstack_endpoint == null ? [] : [var.localstack_endpoint]
}

provider "aws" {
  region = var.region
  #checkov:skip=CKV_AWS_41:an account id as LocalStack's access key, not a secret
  access_key                  = var.service_account_id
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  dynamic "endpoints" {
    for_each = local.localstack_endpoints
    content {
      ec2   = endpoints.value
      elbv2 = endpoints.value
      iam   = endpoints.value
      s3    = endpoints.value
      ssm   = endpoints.value
      sts   = endpoints.value
    }
  }
}

provider "aws" {
  alias  = "consumer"
  region = var.region
  #checkov:skip=CKV_AWS_41:an account id as LocalStack's access key, not a secret
  access_key                  = var.consumer_account_id
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  dynamic "endpoints" {
    for_each = local.localstack_endpoints
    content {
      ec2   = endpoints.value
      elbv2 = endpoints.value
      iam   = endpoints.value
      s3    = endpoints.value
      ssm   = endpoints.value
      sts   = endpoints.value
    }
  }
}
