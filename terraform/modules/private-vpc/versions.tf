terraform {
  # 1.9: validations that compare two variables (subnets inside vpc_cidr).
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}
