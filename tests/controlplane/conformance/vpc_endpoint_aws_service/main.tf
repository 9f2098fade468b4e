# An interface endpoint to an AWS service with no subnets: no ENIs, no DNS entries, the
# VPC's default security group.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
  backend "local" {}
}

variable "localstack_endpoint" {
  type = string
}

variable "region" {
  type = string
}

variable "name" {
  type = string
}

provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.localstack_endpoint
    sts = var.localstack_endpoint
  }
}

resource "aws_vpc" "test" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = var.name }
}

resource "aws_vpc_endpoint" "test" {
  vpc_id            = aws_vpc.test.id
  service_name      = "com.amazonaws.${var.region}.ec2"
  vpc_endpoint_type = "Interface"
}
