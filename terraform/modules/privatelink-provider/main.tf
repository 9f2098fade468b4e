locals {
  subnets = { for i, s in var.private_subnets : s.availability_zone => merge(s, { index = i }) }
  wheels  = fileset(var.wheelhouse_dir, "*.whl")
}

data "aws_region" "current" {}

# --- Network: private subnets only, no internet or NAT gateway -------------------------------

module "vpc" {
  source = "../private-vpc"

  name                 = "${var.name}-provider"
  vpc_cidr             = var.vpc_cidr
  private_subnets      = var.private_subnets
  create_ssm_endpoints = var.create_ssm_endpoints
  tags                 = var.tags
}

resource "aws_route_table" "private" {
  vpc_id = module.vpc.vpc_id
  tags   = merge(var.tags, { Name = "${var.name}-provider-private" })
}

resource "aws_route_table_association" "private" {
  for_each       = module.vpc.subnet_ids
  subnet_id      = each.value
  route_table_id = aws_route_table.private.id
}

# The instances fetch the wheelhouse from S3 through this gateway endpoint (no internet).
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = module.vpc.vpc_id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = merge(var.tags, { Name = "${var.name}-provider-s3" })
}

# --- The wheelhouse bucket --------------------------------------------------------------------

resource "aws_s3_bucket" "wheelhouse" {
  #checkov:skip=CKV_AWS_18:access logs of a bucket holding public Python wheels add cost, not insight
  #checkov:skip=CKV_AWS_144:the wheels are rebuilt from the repository; no cross-region copy needed
  #checkov:skip=CKV2_AWS_62:nothing consumes events of this bucket
  #checkov:skip=CKV_AWS_145:SSE-S3 is enough for public open-source wheels; KMS adds a key to manage
  #checkov:skip=CKV2_AWS_61:the bucket holds one wheelhouse, replaced on every apply; nothing to age out
  bucket_prefix = "${var.name}-wheelhouse-"
  force_destroy = true
  tags          = merge(var.tags, { Name = "${var.name}-wheelhouse" })

  # A precondition (checked on plan and apply, not on destroy) rather than a validation, so a
  # missing wheelhouse never blocks tearing the stack down.
  lifecycle {
    precondition {
      condition     = length(local.wheels) > 0
      error_message = "wheelhouse_dir ${var.wheelhouse_dir} holds no *.whl files, so the instances would have nothing to install: build it with `make wheelhouse`."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "wheelhouse" {
  bucket                  = aws_s3_bucket.wheelhouse.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "wheelhouse" {
  bucket = aws_s3_bucket.wheelhouse.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "wheelhouse" {
  bucket = aws_s3_bucket.wheelhouse.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_object" "wheel" {
  for_each = local.wheels
  bucket   = aws_s3_bucket.wheelhouse.id
  key      = "wheelhouse/${each.value}"
  source   = "${var.wheelhouse_dir}/${each.value}"
  etag     = filemd5("${var.wheelhouse_dir}/${each.value}")

  # Uploaded once versioning is on, so every object has a version id that destroy can delete.
  depends_on = [aws_s3_bucket_versioning.wheelhouse]
}

# --- JERP instances ---------------------------------------------------------------------------

data "aws_iam_policy_document" "read_wheelhouse" {
  statement {
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.wheelhouse.arn, "${aws_s3_bucket.wheelhouse.arn}/wheelhouse/*"]
  }
}

locals {
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    bucket = aws_s3_bucket.wheelhouse.id
    region = data.aws_region.current.name
    port   = var.target_port
    # JERP reads the PROXY v2 header only when told to; the header also starts every health
    # check connection, so JERP must be told whenever the target group sends it.
    proxy_protocol = local.jerp_accepts_proxy_protocol_v2 ? "v2" : "off"
  })
  jerp_accepts_proxy_protocol_v2 = coalesce(var.jerp_accepts_proxy_protocol_v2, var.proxy_protocol_v2)
}

resource "aws_security_group" "targets" {
  name_prefix = "${var.name}-targets-"
  description = "JERP targets: only the load balancer's traffic on the target port"
  vpc_id      = module.vpc.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-targets" })

  # PrivateLink traffic reaches targets from the NLB nodes' private addresses (client IP
  # preservation does not apply to it), and NLB nodes live in the provider subnets: admit
  # the target port from those subnets only, health checks included.
  ingress {
    description = "JERP traffic and health checks from the NLB nodes"
    protocol    = "tcp"
    from_port   = var.target_port
    to_port     = var.target_port
    cidr_blocks = [for s in var.private_subnets : s.cidr_block]
  }

  # HTTPS out, for S3 (gateway endpoint) and SSM; there is no route to the internet.
  egress {
    description = "HTTPS to AWS APIs through VPC endpoints"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

# The NLB's own security group, when nlb_security_group_ingress_cidrs is set. Inbound: the
# listener port from those CIDRs; for PrivateLink traffic AWS judges the consumer's address
# against these rules unless enforce_sg_inbound_rules_on_private_link_traffic is off
# (NLB/load-balancer-security-groups.html#security-group-considerations). Outbound: health
# checks and traffic to the targets are subject to the egress rules, so they name the target
# port in the provider subnets.
resource "aws_security_group" "nlb" {
  count       = var.nlb_security_group_ingress_cidrs == null ? 0 : 1
  name_prefix = "${var.name}-nlb-"
  description = "JERP NLB: the listener port from the allowed CIDRs, the target port to the targets"
  vpc_id      = module.vpc.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-nlb" })

  # An attribute, not a block: an empty list must remove the rule (omitted blocks would keep
  # the rules the group already has).
  ingress = length(var.nlb_security_group_ingress_cidrs) == 0 ? [] : [{
    description      = "The listener port from the allowed CIDRs"
    protocol         = "tcp"
    from_port        = var.listener_port
    to_port          = var.listener_port
    cidr_blocks      = var.nlb_security_group_ingress_cidrs
    ipv6_cidr_blocks = []
    prefix_list_ids  = []
    security_groups  = []
    self             = false
  }]

  egress {
    description = "Traffic and health checks to the JERP targets"
    protocol    = "tcp"
    from_port   = var.target_port
    to_port     = var.target_port
    cidr_blocks = [for s in var.private_subnets : s.cidr_block]
  }

  lifecycle {
    create_before_destroy = true
  }
}

module "instances" {
  source = "../private-instances"

  name                    = "${var.name}-instance"
  ami_id                  = var.ami_id
  instance_type           = var.instance_type
  security_group_ids      = [aws_security_group.targets.id]
  attach_instance_profile = var.attach_instance_profile
  inline_policies         = { read-wheelhouse = data.aws_iam_policy_document.read_wheelhouse.json }
  tags                    = var.tags
  instances = {
    for az, s in local.subnets : az => {
      subnet_id = module.vpc.subnet_ids[az]
      name      = "${var.name}-provider-${s.index + 1}"
      user_data = local.user_data
    }
  }

  # user_data downloads the wheels at boot, through the S3 gateway endpoint.
  depends_on = [aws_s3_object.wheel, aws_vpc_endpoint.s3, aws_route_table_association.private]
}

# --- Internal NLB and the endpoint service ----------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:access logs need a log bucket per region; enable them for production
  #checkov:skip=CKV_AWS_150:deletion protection would stop `make destroy`; see the variable in README
  #checkov:skip=CKV2_AWS_20:an NLB in TCP mode has no HTTP listener to redirect
  #checkov:skip=CKV2_AWS_28:WAF does not attach to Network Load Balancers
  #checkov:skip=CKV_AWS_152:cross-zone is off by default on AWS NLBs and in the seed; enable_cross_zone_load_balancing turns it on
  name                             = "${var.name}-nlb"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = values(module.vpc.subnet_ids)
  enable_cross_zone_load_balancing = var.enable_cross_zone_load_balancing
  # Security groups only when nlb_security_group_ingress_cidrs is set (AWS: only at creation;
  # an NLB created without any can never get one), and the enforcement setting only with them
  # (SetSecurityGroups carries it).
  security_groups                                              = aws_security_group.nlb[*].id
  enforce_security_group_inbound_rules_on_private_link_traffic = length(aws_security_group.nlb) > 0 ? var.enforce_sg_inbound_rules_on_private_link_traffic : null
  tags                                                         = merge(var.tags, { Name = "${var.name}-nlb" })
}

resource "aws_lb_target_group" "jerp" {
  name                 = "${var.name}-tg"
  port                 = var.target_port
  protocol             = "TCP"
  vpc_id               = module.vpc.vpc_id
  target_type          = "instance"
  deregistration_delay = var.deregistration_delay
  proxy_protocol_v2    = var.proxy_protocol_v2
  # The target group's own cross-zone setting wins over the NLB's
  # (NLB/target-group-cross-zone.html).
  load_balancing_cross_zone_enabled = var.target_group_cross_zone

  health_check {
    protocol            = "HTTP"
    path                = var.health_check.path
    port                = "traffic-port"
    interval            = var.health_check.interval
    timeout             = var.health_check.timeout
    healthy_threshold   = var.health_check.healthy_threshold
    unhealthy_threshold = var.health_check.unhealthy_threshold
  }

  tags = var.tags
}

resource "aws_lb_target_group_attachment" "jerp" {
  for_each         = module.instances.ids
  target_group_arn = aws_lb_target_group.jerp.arn
  target_id        = each.value
  port             = var.target_port
}

resource "aws_lb_listener" "tcp" {
  #checkov:skip=CKV_AWS_2:a TCP listener, as in the seed; TLS would terminate at the NLB
  #checkov:skip=CKV_AWS_103:a TCP listener has no TLS policy
  load_balancer_arn = aws_lb.this.arn
  port              = var.listener_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.jerp.arn
  }

  tags = var.tags
}

resource "aws_vpc_endpoint_service" "this" {
  acceptance_required        = var.acceptance_required
  network_load_balancer_arns = [aws_lb.this.arn]
  tags                       = merge(var.tags, { Name = "${var.name}-service" })
}

resource "aws_vpc_endpoint_service_allowed_principal" "this" {
  for_each                = toset(var.allowed_principals)
  vpc_endpoint_service_id = aws_vpc_endpoint_service.this.id
  principal_arn           = each.value
}
