# The whole kit against two mock AWS providers (the service's account and the consumer's):
# the wiring between the provider and consumer modules, the acceptance, and every validation.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "aws" {
  alias  = "consumer"
  source = "../../tests/mocks"
}

variables {
  ami_id         = "ami-0123456789abcdef0"
  wheelhouse_dir = "../../tests/wheels"
  provider_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.10.3.0/24" },
  ]
  consumer_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.20.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.20.3.0/24" },
  ]
}

run "endpoint_to_the_provider_service_accepted_by_the_provider" {
  assert {
    condition     = module.consumer.service_name == module.service.endpoint_service_name
    error_message = "the consumer endpoint must connect to the provider module's service"
  }
  assert {
    condition     = length(aws_vpc_endpoint_connection_accepter.this) == 1 && aws_vpc_endpoint_connection_accepter.this[0].vpc_endpoint_id == output.endpoint_id && aws_vpc_endpoint_connection_accepter.this[0].vpc_endpoint_service_id == output.endpoint_service_id
    error_message = "accept_connection (default) must accept this endpoint on this service"
  }
  assert {
    condition     = jsonencode(local.service_azs_for_consumer) == jsonencode(["ap-northeast-2a", "ap-northeast-2c"])
    error_message = "in one account the consumer may use exactly the service's AZs"
  }
  assert {
    condition     = output.listener_port == 80 && output.target_port == 8080 && output.connection_accepted
    error_message = "the seed's ports, and the connection accepted here"
  }
  assert {
    condition     = length(module.service.ssm_endpoint_ids) == 0 && length(module.consumer.ssm_endpoint_ids) == 0
    error_message = "no SSM endpoints unless create_ssm_endpoints"
  }
}

run "pending_connection_left_for_the_provider_account" {
  command = plan
  variables {
    accept_connection = false
  }
  assert {
    condition     = length(aws_vpc_endpoint_connection_accepter.this) == 0 && !output.connection_accepted
    error_message = "accept_connection = false must leave the connection pendingAcceptance (no accepter)"
  }
}

run "ssm_endpoints_in_both_vpcs" {
  variables {
    create_ssm_endpoints = true
  }
  assert {
    condition     = length(module.service.ssm_endpoint_ids) == 3 && length(module.consumer.ssm_endpoint_ids) == 3
    error_message = "the checks send SSM commands to provider and client instances: both VPCs need the endpoints"
  }
}

run "cross_account_az_names_mapped_by_zone_id" {
  command = plan
  # The consumer account names the service's zones (apne2-az1, apne2-az3) 2b and 2d.
  override_data {
    target = data.aws_availability_zones.consumer
    values = {
      names    = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c", "ap-northeast-2d"]
      zone_ids = ["apne2-az2", "apne2-az1", "apne2-az4", "apne2-az3"]
    }
  }
  variables {
    consumer_subnets = [
      { availability_zone = "ap-northeast-2b", cidr_block = "10.20.1.0/24" },
      { availability_zone = "ap-northeast-2d", cidr_block = "10.20.3.0/24" },
    ]
  }
  assert {
    condition     = jsonencode(local.service_azs_for_consumer) == jsonencode(["ap-northeast-2b", "ap-northeast-2d"])
    error_message = "the consumer's AZs must be the consumer account's names of the service's zone ids"
  }
}

run "overlapping_vpcs" {
  command = plan
  variables {
    consumer_vpc_cidr = "10.10.128.0/17"
    consumer_subnets = [
      { availability_zone = "ap-northeast-2a", cidr_block = "10.10.129.0/24" },
    ]
  }
  expect_failures = [var.consumer_vpc_cidr]
}

# A failing variable hides the checks of variables that refer to it (the subnets refer to their
# VPC's CIDR), so each network mistake gets a run of its own.
run "vpc_cidr_not_a_network_address" {
  command = plan
  variables {
    provider_vpc_cidr = "10.10.1.0/16"
  }
  expect_failures = [var.provider_vpc_cidr]
}

run "provider_subnets_in_one_az_and_outside_the_vpc" {
  command = plan
  variables {
    provider_subnets = [
      { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
      { availability_zone = "ap-northeast-2a", cidr_block = "10.11.3.0/24" },
    ]
  }
  expect_failures = [var.provider_subnets]
}

run "consumer_subnet_named_by_az_id_and_outside_the_vpc" {
  command = plan
  variables {
    consumer_subnets = [
      { availability_zone = "apne2-az1", cidr_block = "10.21.1.0/24" },
    ]
  }
  expect_failures = [var.consumer_subnets]
}

run "no_consumer_subnets" {
  command = plan
  variables {
    consumer_subnets = []
  }
  expect_failures = [var.consumer_subnets]
}

# One run per group of independent single-variable checks: each named variable must fail.
run "names_amis_ports_principals_tags_rejected" {
  command = plan
  variables {
    name               = "privatelink-kit-jerp-x" # <name>-nlb would pass 32 characters
    ami_id             = "ami-XYZ"
    consumer_ami_id    = "0123"
    listener_port      = 0
    target_port        = 70000
    allowed_principals = ["arn:aws:iam::123:root", "arn:aws:iam::123:root"]
    tags               = { Name = "mine", "aws:reserved" = "x" }
  }
  expect_failures = [var.name, var.ami_id, var.consumer_ami_id, var.listener_port, var.target_port, var.allowed_principals, var.tags]
}

run "name_with_capitals_and_fractional_port" {
  command = plan
  variables {
    name          = "Jerp"
    listener_port = 80.5
  }
  expect_failures = [var.name, var.listener_port]
}

run "accepter_without_acceptance" {
  command = plan
  variables {
    acceptance_required = false
  }
  expect_failures = [var.accept_connection]
}

run "ssm_endpoints_without_instance_profile" {
  command = plan
  variables {
    create_ssm_endpoints    = true
    attach_instance_profile = false
  }
  expect_failures = [var.create_ssm_endpoints]
}
