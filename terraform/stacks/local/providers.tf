# The local stack: the kit deployed to LocalStack (started by the harness, `make deploy`).

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

locals {
  stack                   = "local"
  ami_id                  = var.ami_id
  allowed_principals      = ["arn:aws:iam::000000000000:root"] # LocalStack's default account
  attach_instance_profile = false                              # LocalStack EC2 cannot see IAM instance profiles
  create_ssm_endpoints    = false
}

provider "aws" {
  region = var.region
  #checkov:skip=CKV_AWS_41:these are LocalStack's documented dummy credentials, not secrets
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  dynamic "endpoints" {
    for_each = var.localstack_endpoint == null ? [] : [var.localstack_endpoint]
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
