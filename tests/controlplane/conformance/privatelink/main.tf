# One internal NLB (account A) behind four endpoint services: the provider's _basic service,
# one with an allowed-principal resource, one accepted on create by a same-account endpoint
# (auto_accept), and one used from account B and accepted by an accepter in A.

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
  type        = string
  description = "Unique prefix of every name (<= 20 characters)."
}

variable "account_a" {
  type = string
}

variable "account_b" {
  type = string
}

provider "aws" {
  region                      = var.region
  access_key                  = var.account_a
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2   = var.localstack_endpoint
    elbv2 = var.localstack_endpoint
    sts   = var.localstack_endpoint
  }
}

provider "aws" {
  alias                       = "alternate"
  region                      = var.region
  access_key                  = var.account_b
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2   = var.localstack_endpoint
    elbv2 = var.localstack_endpoint
    sts   = var.localstack_endpoint
  }
}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  zones = slice(sort(data.aws_availability_zones.available.names), 0, 2)
}

# --------------------------------------------------------------------------- account A

resource "aws_vpc" "provider" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = var.name }
}

resource "aws_subnet" "provider" {
  count             = 2
  vpc_id            = aws_vpc.provider.id
  cidr_block        = cidrsubnet(aws_vpc.provider.cidr_block, 8, count.index)
  availability_zone = local.zones[count.index]
  tags              = { Name = var.name }
}

resource "aws_security_group" "provider" {
  name   = "${var.name}-a"
  vpc_id = aws_vpc.provider.id
}

resource "aws_lb" "test" {
  name                       = var.name
  internal                   = true
  load_balancer_type         = "network"
  subnets                    = aws_subnet.provider[*].id
  enable_deletion_protection = false
  tags                       = { Name = var.name }
}

resource "aws_vpc_endpoint_service" "basic" {
  acceptance_required        = false
  network_load_balancer_arns = [aws_lb.test.arn]
}

resource "aws_vpc_endpoint_service" "permitted" {
  acceptance_required        = false
  network_load_balancer_arns = [aws_lb.test.arn]
}

resource "aws_vpc_endpoint_service_allowed_principal" "test" {
  vpc_endpoint_service_id = aws_vpc_endpoint_service.permitted.id
  principal_arn           = "arn:aws:iam::${var.account_b}:root"
}

resource "aws_vpc_endpoint_service" "accept_on_create" {
  acceptance_required        = true
  network_load_balancer_arns = [aws_lb.test.arn]
}

resource "aws_vpc_endpoint" "accept_on_create" {
  vpc_id              = aws_vpc.provider.id
  service_name        = aws_vpc_endpoint_service.accept_on_create.service_name
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = false
  auto_accept         = true
  security_group_ids  = [aws_security_group.provider.id]
  tags                = { Name = var.name }
}

resource "aws_vpc_endpoint_service" "cross_account" {
  acceptance_required        = true
  network_load_balancer_arns = [aws_lb.test.arn]
  allowed_principals         = ["arn:aws:iam::${var.account_b}:root"]
}

resource "aws_vpc_endpoint_connection_accepter" "test" {
  vpc_endpoint_service_id = aws_vpc_endpoint_service.cross_account.id
  vpc_endpoint_id         = aws_vpc_endpoint.cross_account.id
}

# --------------------------------------------------------------------------- account B

resource "aws_vpc" "consumer" {
  provider   = aws.alternate
  cidr_block = "10.1.0.0/16"
  tags       = { Name = var.name }
}

resource "aws_subnet" "consumer" {
  provider          = aws.alternate
  count             = 2
  vpc_id            = aws_vpc.consumer.id
  cidr_block        = cidrsubnet(aws_vpc.consumer.cidr_block, 8, count.index)
  availability_zone = local.zones[count.index]
  tags              = { Name = var.name }
}

resource "aws_security_group" "consumer" {
  provider = aws.alternate
  name     = "${var.name}-b"
  vpc_id   = aws_vpc.consumer.id
}

resource "aws_vpc_endpoint" "cross_account" {
  provider            = aws.alternate
  vpc_id              = aws_vpc.consumer.id
  service_name        = aws_vpc_endpoint_service.cross_account.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for s in aws_subnet.consumer : s.id if contains(aws_vpc_endpoint_service.cross_account.availability_zones, s.availability_zone)]
  security_group_ids  = [aws_security_group.consumer.id]
  private_dns_enabled = false
  tags                = { Name = var.name }
}
