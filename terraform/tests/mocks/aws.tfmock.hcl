# Values the mock AWS provider returns where random strings would not pass the modules' own
# checks (service names, regions, AZ lists, endpoint DNS entries).

mock_data "aws_region" {
  defaults = {
    name = "ap-northeast-2"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c", "ap-northeast-2d"]
    zone_ids = ["apne2-az1", "apne2-az2", "apne2-az3", "apne2-az4"]
  }
}

mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}

mock_resource "aws_vpc_endpoint_service" {
  defaults = {
    id           = "vpce-svc-0123456789abcdef0"
    service_name = "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0123456789abcdef0"
  }
}

mock_resource "aws_vpc_endpoint" {
  defaults = {
    id = "vpce-0123456789abcdef0"
    dns_entry = [
      { dns_name = "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com", hosted_zone_id = "Z27UANNT0PRK1T" },
      { dns_name = "vpce-0123456789abcdef0-abcdefgh-ap-northeast-2a.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com", hosted_zone_id = "Z27UANNT0PRK1T" },
      { dns_name = "vpce-0123456789abcdef0-abcdefgh-ap-northeast-2c.vpce-svc-0123456789abcdef0.ap-northeast-2.vpce.amazonaws.com", hosted_zone_id = "Z27UANNT0PRK1T" },
    ]
    network_interface_ids = ["eni-0123456789abcdef0", "eni-0123456789abcdef1"]
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::jerp-wheelhouse-mock"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn      = "arn:aws:elasticloadbalancing:ap-northeast-2:111111111111:loadbalancer/net/jerp-nlb/0123456789abcdef"
    dns_name = "jerp-nlb-0123456789abcdef.elb.ap-northeast-2.amazonaws.com"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:ap-northeast-2:111111111111:targetgroup/jerp-tg/0123456789abcdef"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::111111111111:role/jerp-instance-mock"
  }
}
