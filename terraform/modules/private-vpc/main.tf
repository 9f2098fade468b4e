# A VPC with private subnets only (no internet or NAT gateway), its default security group
# closed, and optionally the interface endpoints SSM needs to reach instances without internet.

locals {
  subnets = { for s in var.private_subnets : s.availability_zone => s }
  # The agent on an instance talks to all three; without any one, Run Command times out.
  ssm_services = var.create_ssm_endpoints ? toset(["ssm", "ssmmessages", "ec2messages"]) : toset([])
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:flow logs need a log group and an IAM role per VPC; add them for production, the kit's checks observe traffic directly
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# No rules: anything that needs traffic gets a security group of its own.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-closed" })
}

resource "aws_subnet" "private" {
  for_each          = local.subnets
  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.cidr_block
  availability_zone = each.key
  tags              = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_security_group" "ssm_endpoints" {
  count       = var.create_ssm_endpoints ? 1 : 0
  name_prefix = "${var.name}-ssm-endpoints-"
  description = "SSM interface endpoints: HTTPS from the VPC"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-ssm-endpoints" })

  ingress {
    description = "HTTPS from instances in the VPC"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.vpc_cidr]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_endpoint" "ssm" {
  for_each            = local.ssm_services
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.ssm_endpoints[0].id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-${each.key}" })
}
