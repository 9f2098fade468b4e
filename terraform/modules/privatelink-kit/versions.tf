terraform {
  # 1.9: validations that compare two variables (the two VPCs must not overlap).
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
      # aws: the provider (service) account; aws.consumer: the account of the endpoint. Pass
      # the same configuration twice for one account.
      configuration_aliases = [aws.consumer]
    }
  }
}
