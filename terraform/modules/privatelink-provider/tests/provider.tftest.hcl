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

run "health_check_interval_nlb_cannot_run" {
  command = plan
  variables {
    health_check = { interval = 15 }
  }
  expect_failures = [var.health_check]
}

run "principal_not_an_arn" {
  command = plan
  variables {
    allowed_principals = ["222222222222"]
  }
  expect_failures = [var.allowed_principals]
}
