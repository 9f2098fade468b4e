# The consumer side against a mock AWS provider: the endpoint's wiring and the AZ rule.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  ami_id                     = "ami-0123456789abcdef0"
  service_name               = "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0123456789abcdef0"
  service_availability_zones = ["ap-northeast-2a", "ap-northeast-2c"]
  private_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.20.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.20.3.0/24" },
  ]
}

run "endpoint_in_every_subnet_to_the_service" {
  assert {
    condition     = aws_vpc_endpoint.jerp.service_name == var.service_name && aws_vpc_endpoint.jerp.vpc_endpoint_type == "Interface" && !aws_vpc_endpoint.jerp.private_dns_enabled
    error_message = "the endpoint must be an interface endpoint to service_name, without private DNS"
  }
  assert {
    condition     = aws_vpc_endpoint.jerp.subnet_ids == toset(values(module.vpc.subnet_ids)) && aws_vpc_endpoint.jerp.vpc_id == module.vpc.vpc_id
    error_message = "the endpoint needs one ENI in every consumer subnet"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoint_http.from_port == 80 && aws_vpc_security_group_ingress_rule.endpoint_http.cidr_ipv4 == "10.20.0.0/16"
    error_message = "the endpoint admits the endpoint port from the consumer VPC"
  }
  assert {
    condition     = output.client_instance_id == module.instances.ids["client"] && output.endpoint_regional_dns_name == "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com"
    error_message = "one client instance; the regional DNS name is the one without an AZ"
  }
  assert {
    condition     = jsonencode(output.endpoint_zonal_dns_names) == jsonencode({ "ap-northeast-2a" = "vpce-0123456789abcdef0-abcdefgh-ap-northeast-2a.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com", "ap-northeast-2c" = "vpce-0123456789abcdef0-abcdefgh-ap-northeast-2c.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com" })
    error_message = "zonal DNS names are keyed by AZ"
  }
}

run "no_client" {
  command = plan
  variables {
    create_client_instance = false
  }
  assert {
    condition     = output.client_instance_id == null
    error_message = "create_client_instance = false creates no client"
  }
}

run "ssm_endpoints_in_the_consumer_vpc" {
  variables {
    create_ssm_endpoints = true
  }
  assert {
    condition     = length(output.ssm_endpoint_ids) == 3
    error_message = "create_ssm_endpoints must put the three SSM endpoints in the consumer VPC"
  }
}

run "az_the_service_does_not_offer" {
  command = plan
  variables {
    private_subnets = [
      { availability_zone = "ap-northeast-2b", cidr_block = "10.20.2.0/24" },
    ]
  }
  expect_failures = [var.private_subnets]
}

run "not_a_service_name" {
  command = plan
  variables {
    service_name = "vpce-svc-0123456789abcdef0"
  }
  expect_failures = [var.service_name]
}

run "endpoint_port_out_of_range" {
  command = plan
  variables {
    endpoint_port = 80.5
  }
  expect_failures = [var.endpoint_port]
}
