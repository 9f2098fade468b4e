# A TCP target group with the provider's health-check settings, and an instance attached to
# it on an explicit port.

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

variable "ami_id" {
  type        = string
  description = "An image LocalStack knows."
  default     = "ami-03cf127a"
}

provider "aws" {
  region                      = var.region
  access_key                  = "test"
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

resource "aws_vpc" "test" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = var.name }
}

resource "aws_subnet" "test" {
  vpc_id            = aws_vpc.test.id
  cidr_block        = "10.0.1.0/24"
  availability_zone = sort(data.aws_availability_zones.available.names)[0]
}

resource "aws_lb_target_group" "test" {
  name                 = var.name
  port                 = 8082
  protocol             = "TCP"
  vpc_id               = aws_vpc.test.id
  deregistration_delay = 200

  health_check {
    interval            = 10
    port                = "traffic-port"
    protocol            = "TCP"
    timeout             = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = { Name = var.name }
}

resource "aws_instance" "test" {
  ami           = var.ami_id
  instance_type = "t3.micro"
  subnet_id     = aws_subnet.test.id
}

resource "aws_lb_target_group_attachment" "test" {
  target_group_arn = aws_lb_target_group.test.arn
  target_id        = aws_instance.test.id
  port             = 80
}
