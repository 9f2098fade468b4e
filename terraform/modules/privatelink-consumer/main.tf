module "vpc" {
  source = "../private-vpc"

  name                 = "${var.name}-consumer"
  vpc_cidr             = var.vpc_cidr
  private_subnets      = var.private_subnets
  create_ssm_endpoints = var.create_ssm_endpoints
  tags                 = var.tags
}

resource "aws_security_group" "endpoint" {
  name_prefix = "${var.name}-endpoint-"
  description = "Interface endpoint to JERP: the endpoint port from the consumer VPC"
  vpc_id      = module.vpc.vpc_id
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
  #checkov:skip=CKV2_AWS_5:attached to the client through module.instances (security_group_ids); checkov does not follow the optional instances map
  name_prefix = "${var.name}-client-"
  description = "Client instance: out to the endpoint and to AWS APIs"
  vpc_id      = module.vpc.vpc_id
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
  vpc_id              = module.vpc.vpc_id
  service_name        = var.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = values(module.vpc.subnet_ids)
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = false
  tags                = merge(var.tags, { Name = "${var.name}-endpoint" })
}

module "instances" {
  source = "../private-instances"

  name                    = "${var.name}-client"
  ami_id                  = var.ami_id
  instance_type           = var.instance_type
  security_group_ids      = [aws_security_group.client.id]
  attach_instance_profile = var.attach_instance_profile
  tags                    = var.tags
  instances = var.create_client_instance ? {
    client = {
      subnet_id = module.vpc.subnet_ids[var.private_subnets[0].availability_zone]
      name      = "${var.name}-consumer-client"
    }
  } : {}
}
