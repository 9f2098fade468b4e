# The AWS stack: the kit deployed to the account of the environment's credentials.

variable "ami_ssm_parameter" {
  type        = string
  description = "Public SSM parameter naming the AMI (Amazon Linux 2023, x86_64)."
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

locals {
  stack  = "aws"
  ami_id = nonsensitive(data.aws_ssm_parameter.ami.value)
  # Same account: the account itself may create endpoints (the seed's setup).
  allowed_principals      = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
  attach_instance_profile = true
  create_ssm_endpoints    = true
}
