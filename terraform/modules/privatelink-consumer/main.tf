locals {
  subnets = { for i, s in var.private_subnets : s.availability_zone => merge(s, { index = i }) }
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:flow logs need a log group and an IAM role per VPC; add them for production, the kit's checks observe traffic directly
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = "${var.name}-consumer" })
}

resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-consumer-default-closed" })
}

resource "aws_subnet" "private" {
  for_each          = local.subnets
  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.cidr_block
  availability_zone = each.key
  tags              = merge(var.tags, { Name = "${var.name}-consumer-${each.key}" })

  lifecycle {
    precondition {
      condition     = contains(var.service_availability_zones, each.key)
      error_message = "The endpoint service does not support the availability zone ${each.key}: use one of ${join(", ", var.service_availability_zones)} for the consumer subnets."
    }
  }
}

resource "aws_security_group" "endpoint" {
  name_prefix = "${var.name}-endpoint-"
  description = "Interface endpoint to JERP: the endpoint port from the consumer VPC"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-endpoint" })

  lifecycle {
    create_before_destroy = true
  }
}

# Separate rule resources so a test (or a user) can revoke and restore the one rule.
resource "aws_vpc_security_group_ingress_rule" "endpoint_http" {
  security_group_id = aws_security_group.endpoint.id
  description       = "JERP over the endpoint from the consumer VPC"
  ip_protocol       = "tcp"
  from_port         = var.endpoint_port
  to_port           = var.endpoint_port
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_security_group" "client" {
  name_prefix = "${var.name}-client-"
  description = "Client instance: out to the endpoint and to AWS APIs"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-client" })

  egress {
    description = "JERP through the interface endpoint"
    protocol    = "tcp"
    from_port   = var.endpoint_port
    to_port     = var.endpoint_port
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "HTTPS to AWS APIs (SSM) through interface endpoints"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.vpc_cidr]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_endpoint" "jerp" {
  vpc_id              = aws_vpc.this.id
  service_name        = var.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = false
  tags                = merge(var.tags, { Name = "${var.name}-endpoint" })
}

resource "aws_security_group" "ssm_endpoints" {
  count       = var.enable_ssm_endpoints ? 1 : 0
  name_prefix = "${var.name}-ssm-endpoints-"
  description = "SSM interface endpoints: HTTPS from the consumer VPC"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags

  ingress {
    description = "HTTPS from the consumer VPC"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_vpc_endpoint" "ssm" {
  for_each            = var.enable_ssm_endpoints ? toset(["ssm", "ssmmessages", "ec2messages"]) : toset([])
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.ssm_endpoints[0].id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-consumer-${each.key}" })
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "client" {
  count              = var.create_client_instance && var.attach_instance_profile ? 1 : 0
  name_prefix        = "${var.name}-client-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "client_ssm" {
  count      = length(aws_iam_role.client)
  role       = aws_iam_role.client[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "client" {
  count       = length(aws_iam_role.client)
  name_prefix = "${var.name}-client-"
  role        = aws_iam_role.client[0].name
  tags        = var.tags
}

resource "aws_instance" "client" {
  #checkov:skip=CKV_AWS_126:detailed monitoring costs extra for a test client
  #checkov:skip=CKV_AWS_135:t3 instances are EBS-optimized by default
  count                  = var.create_client_instance ? 1 : 0
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.private[var.private_subnets[0].availability_zone].id
  vpc_security_group_ids = [aws_security_group.client.id]
  iam_instance_profile   = one(aws_iam_instance_profile.client[*].name)

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 8
  }

  tags = merge(var.tags, { Name = "${var.name}-consumer-client" })
}
