# The provider side against a mock AWS provider: how its parts are wired, and its validations.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  ami_id         = "ami-0123456789abcdef0"
  wheelhouse_dir = "../../tests/wheels"
  private_subnets = [
    { availability_zone = "ap-northeast-2a", cidr_block = "10.10.1.0/24" },
    { availability_zone = "ap-northeast-2c", cidr_block = "10.10.3.0/24" },
  ]
}

run "nlb_targets_and_service_are_wired_together" {
  assert {
    condition     = aws_lb.this.name == "jerp-nlb" && aws_lb.this.internal && aws_lb.this.load_balancer_type == "network" && toset(aws_lb.this.subnets) == toset(values(module.vpc.subnet_ids))
    error_message = "the internal NLB must sit in every provider subnet"
  }
  assert {
    condition     = toset([for a in aws_lb_target_group_attachment.jerp : a.target_id]) == toset(values(module.instances.ids)) && length(aws_lb_target_group_attachment.jerp) == 2
    error_message = "every JERP instance must be a target"
  }
  assert {
    condition     = aws_lb_listener.tcp.port == 80 && aws_lb_listener.tcp.default_action[0].target_group_arn == aws_lb_target_group.jerp.arn && aws_lb_target_group.jerp.port == 8080
    error_message = "listener 80 must forward to the target group on 8080"
  }
  assert {
    condition     = aws_vpc_endpoint_service.this.network_load_balancer_arns == toset([aws_lb.this.arn]) && aws_vpc_endpoint_service.this.acceptance_required
    error_message = "the endpoint service must front the NLB and require acceptance by default"
  }
  assert {
    condition     = output.instance_ids == [for s in var.private_subnets : module.instances.ids[s.availability_zone]]
    error_message = "instance ids come in subnet order"
  }
  assert {
    condition     = jsonencode([for r in aws_security_group.targets.ingress : [r.from_port, r.cidr_blocks]]) == jsonencode([[8080, ["10.10.1.0/24", "10.10.3.0/24"]]])
    error_message = "targets admit only the target port, from the provider subnets (where NLB nodes live)"
  }
  assert {
    condition     = length(output.ssm_endpoint_ids) == 0 && output.instance_role_name != null
    error_message = "no SSM endpoints by default; instances get a role"
  }
}

run "user_data_serves_one_worker_per_vcpu" {
  command = plan
  assert {
    condition     = strcontains(local.user_data, "JERP_WORKERS=$(nproc)") && strcontains(local.user_data, "JERP_PORT=8080")
    error_message = "the systemd unit must set JERP_WORKERS from nproc and JERP_PORT from target_port"
  }
}

run "ssm_endpoints_in_the_provider_vpc" {
  variables {
    create_ssm_endpoints = true
  }
  assert {
    condition     = jsonencode(sort(keys(output.ssm_endpoint_ids))) == jsonencode(["ec2messages", "ssm", "ssmmessages"])
    error_message = "create_ssm_endpoints must put ssm, ssmmessages and ec2messages endpoints in the provider VPC"
  }
}

run "consumer_account_allowed_on_the_service" {
  variables {
    allowed_principals = ["arn:aws:iam::222222222222:root"]
  }
  assert {
    condition     = aws_vpc_endpoint_service_allowed_principal.this["arn:aws:iam::222222222222:root"].vpc_endpoint_service_id == aws_vpc_endpoint_service.this.id
    error_message = "the consumer account must be allowed on this service"
  }
}

run "ssm_endpoints_without_instance_profile" {
  command = plan
  variables {
    create_ssm_endpoints    = true
    attach_instance_profile = false
  }
  expect_failures = [var.create_ssm_endpoints]
}

run "nlb_name_too_long" {
  command = plan
  variables {
    name = "a-very-long-kit-name-x"
  }
  expect_failures = [var.name]
}

run "name_ends_with_hyphen" {
  command = plan
  variables {
    name = "jerp-"
  }
  expect_failures = [var.name]
}

run "port_out_of_range" {
  command = plan
  variables {
    listener_port = 0
    target_port   = 65536
  }
  expect_failures = [var.listener_port, var.target_port]
}

run "empty_wheelhouse" {
  command = plan
  variables {
    wheelhouse_dir = "../../tests/mocks"
  }
  expect_failures = [aws_s3_bucket.wheelhouse]
}

run "health_check_interval_outside_awss_5_to_300" {
  command = plan
  variables {
    health_check = { interval = 4 }
  }
  expect_failures = [var.health_check]
}

run "target_group_attributes_reach_the_target_group" {
  command = plan
  variables {
    health_check            = { interval = 15 }
    deregistration_delay    = 120
    target_group_cross_zone = "true"
    proxy_protocol_v2       = true
  }
  assert {
    condition     = aws_lb_target_group.jerp.health_check[0].interval == 15 && aws_lb_target_group.jerp.deregistration_delay == "120" && aws_lb_target_group.jerp.load_balancing_cross_zone_enabled == "true" && aws_lb_target_group.jerp.proxy_protocol_v2
    error_message = "interval, deregistration delay, cross-zone and proxy protocol v2 must be set on the target group"
  }
  assert {
    condition     = strcontains(local.user_data, "JERP_PROXY_PROTOCOL=v2")
    error_message = "with proxy_protocol_v2 the systemd unit must start JERP with JERP_PROXY_PROTOCOL=v2 (the data plane reads it from user_data too)"
  }
}

run "nlb_without_security_groups_by_default" {
  command = plan
  assert {
    condition     = length(aws_security_group.nlb) == 0 && length(aws_lb.this.security_groups) == 0 && strcontains(local.user_data, "JERP_PROXY_PROTOCOL=off")
    error_message = "the seed's NLB has no security groups, and JERP reads no PROXY header"
  }
}

run "nlb_security_group_admits_the_listener_and_reaches_the_targets" {
  variables {
    nlb_security_group_ingress_cidrs                 = ["10.20.0.0/16"]
    enforce_sg_inbound_rules_on_private_link_traffic = "off"
  }
  assert {
    condition     = toset(aws_lb.this.security_groups) == toset([aws_security_group.nlb[0].id]) && aws_lb.this.enforce_security_group_inbound_rules_on_private_link_traffic == "off"
    error_message = "the NLB must carry its security group and the enforcement setting"
  }
  assert {
    condition     = jsonencode([for r in aws_security_group.nlb[0].ingress : [r.from_port, r.to_port, r.cidr_blocks]]) == jsonencode([[80, 80, ["10.20.0.0/16"]]])
    error_message = "inbound: the listener port from the given CIDRs only"
  }
  assert {
    condition     = jsonencode([for r in aws_security_group.nlb[0].egress : [r.from_port, r.to_port, r.cidr_blocks]]) == jsonencode([[8080, 8080, ["10.10.1.0/24", "10.10.3.0/24"]]])
    error_message = "outbound: the target port to the provider subnets (health checks obey the NLB's egress rules)"
  }
}

run "nlb_security_group_with_no_ingress_admits_nothing" {
  command = plan
  variables {
    nlb_security_group_ingress_cidrs = []
  }
  assert {
    condition     = length(aws_security_group.nlb[0].ingress) == 0
    error_message = "an empty list gives the NLB a security group without inbound rules"
  }
}

run "enforcement_off_without_nlb_security_groups" {
  command = plan
  variables {
    enforce_sg_inbound_rules_on_private_link_traffic = "off"
  }
  expect_failures = [var.enforce_sg_inbound_rules_on_private_link_traffic]
}

run "target_group_values_aws_refuses" {
  command = plan
  variables {
    deregistration_delay           = 3601
    target_group_cross_zone        = "yes"
    jerp_accepts_proxy_protocol_v2 = true
  }
  expect_failures = [var.deregistration_delay, var.target_group_cross_zone, var.jerp_accepts_proxy_protocol_v2]
}

run "principal_not_an_arn" {
  command = plan
  variables {
    allowed_principals = ["222222222222"]
  }
  expect_failures = [var.allowed_principals]
}
