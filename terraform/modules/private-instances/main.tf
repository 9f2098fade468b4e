# EC2 instances in private subnets, hardened the same way everywhere (IMDSv2 only, encrypted
# root volume), sharing one IAM role and instance profile: SSM core plus any inline policies.

locals {
  create_role = var.attach_instance_profile && length(var.instances) > 0
}

resource "aws_iam_role" "this" {
  count       = local.create_role ? 1 : 0
  name_prefix = "${var.name}-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
  tags = var.tags
}

# Lets the SSM agent register and run commands (the AWS checks send them to these hosts).
resource "aws_iam_role_policy_attachment" "ssm_core" {
  count      = local.create_role ? 1 : 0
  role       = aws_iam_role.this[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "inline" {
  for_each = local.create_role ? var.inline_policies : {}
  name     = each.key
  role     = aws_iam_role.this[0].id
  policy   = each.value
}

resource "aws_iam_instance_profile" "this" {
  count       = local.create_role ? 1 : 0
  name_prefix = "${var.name}-"
  role        = aws_iam_role.this[0].name
  tags        = var.tags
}

resource "aws_instance" "this" {
  #checkov:skip=CKV_AWS_126:detailed monitoring costs extra; the NLB health checks and the kit's checks watch these hosts
  #checkov:skip=CKV_AWS_135:t3 instances are EBS-optimized by default
  for_each               = var.instances
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = each.value.subnet_id
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = one(aws_iam_instance_profile.this[*].name)
  user_data              = each.value.user_data
  # user_data runs once, at first boot: a changed script (JERP's settings) needs a new
  # instance, not the stop/start an in-place update would do.
  user_data_replace_on_change = true

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = var.root_volume_size
  }

  tags = merge(var.tags, { Name = each.value.name })
}
