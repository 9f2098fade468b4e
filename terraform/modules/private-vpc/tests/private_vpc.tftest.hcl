# Plan-time checks of the shared VPC module against a mock AWS provider (no account needed).

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name     = "jerp-provider"
  vpc_cidr = "10.10.0.0/16"
  private_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.10.3.0/24" },
  ]
}

run "one_subnet_per_az_inside_the_vpc_and_a_closed_default_group" {
  assert {
    condition     = { for az, s in aws_subnet.private : az => s.cidr_block } == { "ap-northeast-2a" = "10.10.1.0/24", "ap-northeast-2c" = "10.10.3.0/24" }
    error_message = "expected one subnet per AZ with the given ranges"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : s.vpc_id == aws_vpc.this.id])
    error_message = "every subnet must be in the module's VPC"
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group must have no rules"
  }
  assert {
    condition     = aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames
    error_message = "interface endpoints with private DNS need DNS support and hostnames on"
  }
  assert {
    condition     = output.availability_zones == tolist(["ap-northeast-2a", "ap-northeast-2c"]) && length(output.ssm_endpoint_ids) == 0
    error_message = "expected the two AZs and no SSM endpoints by default"
  }
}

run "ssm_endpoints_reach_the_vpc_on_443" {
  variables {
    create_ssm_endpoints = true
  }
  assert {
    condition     = sort([for e in aws_vpc_endpoint.ssm : e.service_name]) == tolist(["com.amazonaws.ap-northeast-2.ec2messages", "com.amazonaws.ap-northeast-2.ssm", "com.amazonaws.ap-northeast-2.ssmmessages"])
    error_message = "expected the ssm, ssmmessages and ec2messages endpoints of the VPC's region"
  }
  assert {
    condition = alltrue([
      for e in aws_vpc_endpoint.ssm :
      e.vpc_endpoint_type == "Interface" && e.private_dns_enabled && length(e.subnet_ids) == 2 && e.security_group_ids == toset([aws_security_group.ssm_endpoints[0].id])
    ])
    error_message = "SSM endpoints must be interface endpoints with private DNS in every subnet, behind their security group"
  }
  assert {
    condition     = jsonencode([for r in aws_security_group.ssm_endpoints[0].ingress : [r.protocol, r.from_port, r.to_port, r.cidr_blocks]]) == jsonencode([["tcp", 443, 443, ["10.10.0.0/16"]]])
    error_message = "the endpoints' security group must admit HTTPS from the VPC only"
  }
}

run "vpc_cidr_not_a_network_address" {
  command = plan
  variables {
    vpc_cidr = "10.10.0.1/16"
  }
  expect_failures = [var.vpc_cidr]
}

run "vpc_cidr_too_large" {
  command = plan
  variables {
    vpc_cidr = "10.0.0.0/8"
  }
  expect_failures = [var.vpc_cidr]
}

run "no_subnets" {
  command = plan
  variables {
    private_subnets = []
  }
  expect_failures = [var.private_subnets]
}

run "two_subnets_in_one_az" {
  command = plan
  variables {
    private_subnets = [
      { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
      { availability_zone = "ap-northeast-2a", cidr_block = "10.10.3.0/24" },
    ]
  }
  expect_failures = [var.private_subnets]
}

run "subnet_outside_the_vpc" {
  command = plan
  variables {
    private_subnets = [
      { availability_zone = "ap-northeast-2a", cidr_block = "10.20.1.0/24" },
    ]
  }
  expect_failures = [var.private_subnets]
}

run "overlapping_subnets" {
  command = plan
  variables {
    private_subnets = [
      { availability_zone = "ap-northeast-2a", cidr_block = "10.10.0.0/20" },
      { availability_zone = "ap-northeast-2c", cidr_block = "10.10.3.0/24" },
    ]
  }
  expect_failures = [var.private_subnets]
}

run "not_an_az_name" {
  command = plan
  variables {
    private_subnets = [
      { availability_zone = "ap-northeast-2", cidr_block = "10.10.1.0/24" },
    ]
  }
  expect_failures = [var.private_subnets]
}
