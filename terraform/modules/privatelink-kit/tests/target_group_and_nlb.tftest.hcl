# The target group and NLB settings the kit exposes (proxy protocol v2, cross-zone, draining,
# health checks, the NLB's security group and PrivateLink enforcement): each reaches its
# resource, and each value AWS refuses stops the plan at the kit's variable.

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

# --- wiring ------------------------------------------------------------------------------

run "defaults_are_the_seed_and_awss" {
  command = plan
  assert {
    condition     = output.target_group_attributes.cross_zone == "use_load_balancer_configuration" && output.target_group_attributes.deregistration_delay == 30 && !output.target_group_attributes.proxy_protocol_v2
    error_message = "by default the target group follows the NLB's cross-zone, drains 30 s and sends no PROXY header"
  }
  assert {
    condition     = output.target_group_attributes.health_check.path == "/healthz" && output.target_group_attributes.health_check.interval == 5 && output.target_group_attributes.health_check.timeout == 4 && output.target_group_attributes.health_check.healthy_threshold == 2 && output.target_group_attributes.health_check.unhealthy_threshold == 2
    error_message = "the default health check is JERP's /healthz every 5 s with a 4 s timeout, 2 to flip either way (AWS's fastest)"
  }
  assert {
    condition     = output.jerp_proxy_protocol == "off" && output.nlb_security_group_id == null
    error_message = "no PROXY v2 for JERP, and an NLB without security groups by default (the seed's)"
  }
}

run "proxy_protocol_v2_on_starts_jerp_reading_it" {
  command = plan
  variables {
    proxy_protocol_v2 = true
  }
  assert {
    condition     = output.target_group_attributes.proxy_protocol_v2 && output.jerp_proxy_protocol == "v2"
    error_message = "proxy_protocol_v2 must reach the target group and start JERP with JERP_PROXY_PROTOCOL=v2"
  }
}

run "proxy_protocol_v2_on_with_jerp_not_reading_it" {
  command = plan
  variables {
    proxy_protocol_v2              = true
    jerp_accepts_proxy_protocol_v2 = false
  }
  assert {
    condition     = output.target_group_attributes.proxy_protocol_v2 && output.jerp_proxy_protocol == "off"
    error_message = "jerp_accepts_proxy_protocol_v2 = false must leave JERP without the setting while the target group sends the header"
  }
}

run "target_group_settings_reach_the_target_group" {
  command = plan
  variables {
    target_group_cross_zone = "false"
    deregistration_delay    = 0
    health_check            = { path = "/info", interval = 5, timeout = 5, healthy_threshold = 2, unhealthy_threshold = 10 }
  }
  assert {
    condition     = output.target_group_attributes.cross_zone == "false" && output.target_group_attributes.deregistration_delay == 0
    error_message = "target_group_cross_zone and deregistration_delay must reach the target group"
  }
  assert {
    condition     = output.target_group_attributes.health_check.path == "/info" && output.target_group_attributes.health_check.interval == 5 && output.target_group_attributes.health_check.timeout == 5 && output.target_group_attributes.health_check.healthy_threshold == 2 && output.target_group_attributes.health_check.unhealthy_threshold == 10
    error_message = "every health_check field must reach the target group's health check"
  }
}

run "nlb_security_group_with_enforcement_off" {
  variables {
    nlb_security_group_ingress_cidrs                 = ["10.10.0.0/16"]
    enforce_sg_inbound_rules_on_private_link_traffic = "off"
  }
  assert {
    condition     = output.nlb_security_group_id != null && output.nlb_enforce_sg_inbound_rules_on_private_link_traffic == "off"
    error_message = "nlb_security_group_ingress_cidrs must give the NLB a security group, and the enforcement setting must reach the NLB"
  }
}

run "nlb_security_group_enforcement_on_by_default" {
  command = plan
  variables {
    nlb_security_group_ingress_cidrs = ["10.20.0.0/16"]
  }
  assert {
    condition     = output.nlb_enforce_sg_inbound_rules_on_private_link_traffic == "on"
    error_message = "with security groups the NLB enforces their inbound rules on PrivateLink traffic (AWS's default, on)"
  }
}

# --- validations: AWS's limits ------------------------------------------------------------

run "target_group_cross_zone_not_one_of_awss_values" {
  command = plan
  variables {
    target_group_cross_zone = "enabled"
  }
  expect_failures = [var.target_group_cross_zone]
}

run "deregistration_delay_above_3600" {
  command = plan
  variables {
    deregistration_delay = 3601
  }
  expect_failures = [var.deregistration_delay]
}

run "deregistration_delay_fractional" {
  command = plan
  variables {
    deregistration_delay = 2.5
  }
  expect_failures = [var.deregistration_delay]
}

run "health_check_interval_below_5" {
  command = plan
  variables {
    health_check = { interval = 4 }
  }
  expect_failures = [var.health_check]
}

run "health_check_interval_above_300" {
  command = plan
  variables {
    health_check = { interval = 301 }
  }
  expect_failures = [var.health_check]
}

run "health_check_interval_15_allowed_since_2022" {
  command = plan
  variables {
    health_check = { interval = 15 }
  }
  assert {
    condition     = output.target_group_attributes.health_check.interval == 15
    error_message = "AWS takes any interval from 5 to 300 s on NLB target groups (not only 10 or 30)"
  }
}

run "health_check_interval_under_awss_default_timeout" {
  command = plan
  variables {
    health_check = { interval = 5, timeout = 6 }
  }
  expect_failures = [var.health_check]
}

run "health_check_timeout_longer_than_the_interval" {
  command = plan
  variables {
    health_check = { interval = 10, timeout = 11 }
  }
  expect_failures = [var.health_check]
}

run "health_check_thresholds_and_path_out_of_range" {
  command = plan
  variables {
    health_check = { path = "healthz", healthy_threshold = 1, unhealthy_threshold = 11 }
  }
  expect_failures = [var.health_check]
}

run "jerp_reading_a_header_never_sent" {
  command = plan
  variables {
    jerp_accepts_proxy_protocol_v2 = true
  }
  expect_failures = [var.jerp_accepts_proxy_protocol_v2]
}

run "enforcement_not_on_or_off" {
  command = plan
  variables {
    nlb_security_group_ingress_cidrs                 = ["10.20.0.0/16"]
    enforce_sg_inbound_rules_on_private_link_traffic = "false"
  }
  expect_failures = [var.enforce_sg_inbound_rules_on_private_link_traffic]
}

run "enforcement_off_without_nlb_security_groups" {
  command = plan
  variables {
    enforce_sg_inbound_rules_on_private_link_traffic = "off"
  }
  expect_failures = [var.enforce_sg_inbound_rules_on_private_link_traffic]
}

run "nlb_security_group_cidr_not_a_cidr" {
  command = plan
  variables {
    nlb_security_group_ingress_cidrs = ["10.20.0.0"]
  }
  expect_failures = [var.nlb_security_group_ingress_cidrs]
}
