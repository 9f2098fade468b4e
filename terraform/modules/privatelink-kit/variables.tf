# Every check that can run at plan time does, so a wrong value fails before anything is built.
# Subnet ranges are checked again (inside their VPC, no overlaps) by modules/private-vpc.

variable "name" {
  type        = string
  description = "Name prefix of every resource: the NLB is <name>-nlb, the target group <name>-tg."
  default     = "jerp"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,19}[a-z0-9])?$", var.name))
    error_message = "name must be 1-21 lowercase letters, digits or '-', starting with a letter and not ending with '-': it prefixes the NLB name <name>-nlb (AWS: at most 32 alphanumerics or hyphens) and S3 bucket names. Try e.g. jerp."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI of the JERP instances (and of the client instance unless consumer_ami_id is set). On AWS, Amazon Linux 2023."
  nullable    = false
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id such as ami-0123456789abcdef0 (on AWS, read it from /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64)."
  }
}

variable "consumer_ami_id" {
  type        = string
  description = "AMI of the client instance when it differs from ami_id (a private AMI not shared with the consumer account); null uses ami_id."
  default     = null
  validation {
    condition     = var.consumer_ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.consumer_ami_id))
    error_message = "consumer_ami_id must be null or an AMI id such as ami-0123456789abcdef0."
  }
}

variable "provider_vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the provider VPC, /16 to /28."
  default     = "10.10.0.0/16"
  nullable    = false
  validation {
    condition     = try(cidrsubnet(var.provider_vpc_cidr, 0, 0) == var.provider_vpc_cidr && tonumber(split("/", var.provider_vpc_cidr)[1]) >= 16 && tonumber(split("/", var.provider_vpc_cidr)[1]) <= 28, false)
    error_message = "provider_vpc_cidr must be an IPv4 network CIDR from /16 to /28, such as 10.10.0.0/16 (got ${var.provider_vpc_cidr})."
  }
}

variable "provider_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Provider private subnets, one per AZ, inside provider_vpc_cidr: one JERP instance and one NLB node each. Their AZs are the AZs the service offers."
  nullable    = false
  validation {
    condition     = length(var.provider_subnets) >= 1 && length(distinct(var.provider_subnets[*].availability_zone)) == length(var.provider_subnets)
    error_message = "provider_subnets needs at least one subnet and at most one per availability zone, e.g. [{ availability_zone = \"ap-northeast-2a\", cidr_block = \"10.10.1.0/24\" }]."
  }
  validation {
    condition     = alltrue([for s in var.provider_subnets : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", s.availability_zone))])
    error_message = "every provider_subnets[*].availability_zone must be an AZ name such as ap-northeast-2a."
  }
  validation {
    condition = alltrue([
      for s in var.provider_subnets : try(
        tonumber(split("/", s.cidr_block)[1]) <= 28 &&
        tonumber(split("/", s.cidr_block)[1]) >= tonumber(split("/", var.provider_vpc_cidr)[1]) &&
        cidrsubnet("${cidrhost(s.cidr_block, 0)}/${split("/", var.provider_vpc_cidr)[1]}", 0, 0) == cidrsubnet(var.provider_vpc_cidr, 0, 0),
        false
      )
    ])
    error_message = "every provider_subnets[*].cidr_block must be a /28-or-larger IPv4 range inside provider_vpc_cidr ${var.provider_vpc_cidr}, e.g. cidrsubnet(provider_vpc_cidr, 8, 1)."
  }
}

variable "consumer_vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the consumer VPC, /16 to /28, apart from provider_vpc_cidr (PrivateLink allows overlap; the kit's checks tell the VPCs apart by address)."
  default     = "10.20.0.0/16"
  nullable    = false
  validation {
    condition     = try(cidrsubnet(var.consumer_vpc_cidr, 0, 0) == var.consumer_vpc_cidr && tonumber(split("/", var.consumer_vpc_cidr)[1]) >= 16 && tonumber(split("/", var.consumer_vpc_cidr)[1]) <= 28, false)
    error_message = "consumer_vpc_cidr must be an IPv4 network CIDR from /16 to /28, such as 10.20.0.0/16 (got ${var.consumer_vpc_cidr})."
  }
  validation {
    condition = try(
      cidrsubnet("${cidrhost(var.consumer_vpc_cidr, 0)}/${min(tonumber(split("/", var.consumer_vpc_cidr)[1]), tonumber(split("/", var.provider_vpc_cidr)[1]))}", 0, 0) !=
      cidrsubnet("${cidrhost(var.provider_vpc_cidr, 0)}/${min(tonumber(split("/", var.consumer_vpc_cidr)[1]), tonumber(split("/", var.provider_vpc_cidr)[1]))}", 0, 0),
      true # an invalid CIDR is reported by the check above
    )
    error_message = "consumer_vpc_cidr ${var.consumer_vpc_cidr} overlaps provider_vpc_cidr ${var.provider_vpc_cidr}: give the consumer its own range, e.g. 10.20.0.0/16."
  }
}

variable "consumer_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Consumer subnets, one per AZ, inside consumer_vpc_cidr: one endpoint ENI each. Only AZs the service offers (same AZ ids as provider_subnets; names as the consumer account spells them)."
  nullable    = false
  validation {
    condition     = length(var.consumer_subnets) >= 1 && length(distinct(var.consumer_subnets[*].availability_zone)) == length(var.consumer_subnets)
    error_message = "consumer_subnets needs at least one subnet and at most one per availability zone, e.g. [{ availability_zone = \"ap-northeast-2a\", cidr_block = \"10.20.1.0/24\" }]."
  }
  validation {
    condition     = alltrue([for s in var.consumer_subnets : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", s.availability_zone))])
    error_message = "every consumer_subnets[*].availability_zone must be an AZ name such as ap-northeast-2a."
  }
  validation {
    condition = alltrue([
      for s in var.consumer_subnets : try(
        tonumber(split("/", s.cidr_block)[1]) <= 28 &&
        tonumber(split("/", s.cidr_block)[1]) >= tonumber(split("/", var.consumer_vpc_cidr)[1]) &&
        cidrsubnet("${cidrhost(s.cidr_block, 0)}/${split("/", var.consumer_vpc_cidr)[1]}", 0, 0) == cidrsubnet(var.consumer_vpc_cidr, 0, 0),
        false
      )
    ])
    error_message = "every consumer_subnets[*].cidr_block must be a /28-or-larger IPv4 range inside consumer_vpc_cidr ${var.consumer_vpc_cidr}, e.g. cidrsubnet(consumer_vpc_cidr, 8, 1)."
  }
}

variable "listener_port" {
  type        = number
  description = "TCP port of the NLB listener, and so the port consumers use through the endpoint."
  default     = 80
  nullable    = false
  validation {
    condition     = var.listener_port >= 1 && var.listener_port <= 65535 && floor(var.listener_port) == var.listener_port
    error_message = "listener_port must be a whole TCP port number, 1-65535 (the seed uses 80)."
  }
}

variable "target_port" {
  type        = number
  description = "Port JERP listens on in the instances; the target group sends traffic and health checks there."
  default     = 8080
  nullable    = false
  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535 && floor(var.target_port) == var.target_port
    error_message = "target_port must be a whole TCP port number, 1-65535 (the seed uses 8080)."
  }
}

variable "acceptance_required" {
  type        = bool
  description = "Endpoint connections wait in pendingAcceptance until the provider accepts them."
  default     = true
  nullable    = false
}

variable "accept_connection" {
  type        = bool
  description = "Accept the consumer's connection here, as the provider account. False leaves it pendingAcceptance, for a manual `aws ec2 accept-vpc-endpoint-connections` by the provider account."
  default     = true
  nullable    = false
  validation {
    condition     = !var.accept_connection || var.acceptance_required
    error_message = "accept_connection = true needs acceptance_required = true: without acceptance the connection is available at once and there is nothing to accept (the accepter only accepts pendingAcceptance). Set accept_connection = false."
  }
}

variable "allowed_principals" {
  type        = list(string)
  description = "Principals allowed to create endpoints to the service, e.g. [\"arn:aws:iam::<consumer account>:root\"]. Without the consumer's account (or \"*\"), creating the endpoint fails."
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for p in var.allowed_principals : p == "*" || can(regex("^arn:aws[a-z-]*:iam::\\d{12}:(root|role/.+|user/.+)$", p))])
    error_message = "allowed_principals entries must be IAM ARNs such as arn:aws:iam::123456789012:root (an account), ...:role/<name> or ...:user/<name>, or \"*\"."
  }
  validation {
    condition     = length(distinct(var.allowed_principals)) == length(var.allowed_principals)
    error_message = "allowed_principals lists a principal twice: list each once."
  }
}

variable "enable_cross_zone_load_balancing" {
  type        = bool
  description = "NLB cross-zone load balancing (off by default, as on AWS)."
  default     = false
  nullable    = false
}

# The target group and the NLB's security groups. Each validation repeats AWS's own limit, so
# a wrong value stops the plan instead of the apply.

variable "target_group_cross_zone" {
  type        = string
  description = "The target group's load_balancing.cross_zone.enabled: \"true\", \"false\", or \"use_load_balancer_configuration\" (default: follow enable_cross_zone_load_balancing). The target group's value wins over the NLB's; with \"false\" an AZ without a healthy target serves nothing, even through its zonal name."
  default     = "use_load_balancer_configuration"
  nullable    = false
  validation {
    # NLB/target-group-cross-zone.html: exactly these three values.
    condition     = contains(["true", "false", "use_load_balancer_configuration"], var.target_group_cross_zone)
    error_message = "target_group_cross_zone must be \"true\", \"false\" or \"use_load_balancer_configuration\" (the values AWS's load_balancing.cross_zone.enabled takes); a bool needs quotes here."
  }
}

variable "health_check" {
  type = object({
    path                = optional(string, "/healthz")
    interval            = optional(number, 5)
    timeout             = optional(number, 4) # at most the interval (AWS's HTTP default, 6 s, is not)
    healthy_threshold   = optional(number, 2)
    unhealthy_threshold = optional(number, 2)
  })
  description = "HTTP health check of the JERP targets: path, interval (s), healthy and unhealthy thresholds. A target gets traffic after healthy_threshold passes in a row and loses it after unhealthy_threshold failures."
  default     = {}
  nullable    = false
  # AWS's limits (ELBAPI/API_CreateTargetGroup.html, HealthCheck* parameters): interval 5-300 s
  # for every target group protocol (NLBs accepted only 10 or 30 until November 2022),
  # thresholds 2-10. The provider module checks the same; here the message names the kit's
  # variable.
  validation {
    condition     = startswith(var.health_check.path, "/") && length(var.health_check.path) <= 1024
    error_message = "health_check.path must start with '/' and be at most 1024 characters (AWS's limit), e.g. /healthz (JERP's health route)."
  }
  validation {
    condition     = var.health_check.interval >= 5 && var.health_check.interval <= 300 && floor(var.health_check.interval) == var.health_check.interval
    error_message = "health_check.interval must be a whole number of seconds from 5 to 300 (AWS's range for HealthCheckIntervalSeconds), e.g. 5 (the default) or 10."
  }
  validation {
    # ELBAPI/API_CreateTargetGroup.html (HealthCheckTimeoutSeconds: 2-120, HTTP default 6);
    # AWS refuses a timeout longer than the interval ("Health check timeout '6' must be
    # smaller than or equal to the interval '5'").
    condition     = var.health_check.timeout >= 2 && var.health_check.timeout <= 120 && var.health_check.timeout <= var.health_check.interval
    error_message = "health_check.timeout must be 2-120 s and at most health_check.interval (AWS refuses a longer timeout), e.g. { interval = 5, timeout = 4 } (the default) or { interval = 10, timeout = 6 }."
  }
  validation {
    condition     = alltrue([for t in [var.health_check.healthy_threshold, var.health_check.unhealthy_threshold] : t >= 2 && t <= 10 && floor(t) == t])
    error_message = "health_check.healthy_threshold and unhealthy_threshold must be whole numbers from 2 to 10 (AWS's range for HealthyThresholdCount and UnhealthyThresholdCount), e.g. 2 (the default) or 3."
  }
}

variable "deregistration_delay" {
  type        = number
  description = "Seconds a deregistered target stays draining (its open flows continue, it gets no new ones) before it is removed: deregistration_delay.timeout_seconds. AWS's default is 300; the kit's 30 keeps instance replacements quick."
  default     = 30
  nullable    = false
  validation {
    # NLB/edit-target-group-attributes.html#deregistration-delay: 0-3600 seconds.
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600 && floor(var.deregistration_delay) == var.deregistration_delay
    error_message = "deregistration_delay must be a whole number of seconds from 0 to 3600 (AWS's range for deregistration_delay.timeout_seconds), e.g. 30."
  }
}

variable "proxy_protocol_v2" {
  type        = bool
  description = "The target group sends a PROXY protocol v2 header on every connection to a target, health checks included: the consumer's private address and, through PrivateLink, the endpoint id (TLV 0xEA). JERP is then started with JERP_PROXY_PROTOCOL=v2 and answers X-Vpce-Id (see jerp_accepts_proxy_protocol_v2)."
  default     = false
  nullable    = false
}

variable "jerp_accepts_proxy_protocol_v2" {
  type        = bool
  description = "Start JERP with JERP_PROXY_PROTOCOL=v2. null (default) follows proxy_protocol_v2, which is what works. false with proxy_protocol_v2 = true reproduces an application not set up for the header: the header reaches it on health checks too, so every target turns unhealthy."
  default     = null
  validation {
    condition     = var.jerp_accepts_proxy_protocol_v2 != true || var.proxy_protocol_v2
    error_message = "jerp_accepts_proxy_protocol_v2 = true needs proxy_protocol_v2 = true: JERP would wait for a PROXY v2 header the target group never sends and refuse every connection, health checks included. Turn proxy_protocol_v2 on, or leave jerp_accepts_proxy_protocol_v2 null."
  }
}

variable "nlb_security_group_ingress_cidrs" {
  type        = list(string)
  description = "Give the NLB a security group admitting the listener port from these CIDRs (it also sends the target port to the provider subnets: health checks obey its egress rules). null (default): no security groups, so the NLB admits everything, as in the seed. AWS sets an NLB's security groups only at creation: switching between null and a list replaces the NLB."
  default     = null
  validation {
    condition     = var.nlb_security_group_ingress_cidrs == null || alltrue([for c in coalesce(var.nlb_security_group_ingress_cidrs, []) : can(cidrnetmask(c))])
    error_message = "nlb_security_group_ingress_cidrs must be null or a list of IPv4 CIDRs such as [\"10.20.0.0/16\"] (the consumer VPC, whose addresses the rules judge on PrivateLink traffic while enforcement is on)."
  }
}

variable "enforce_sg_inbound_rules_on_private_link_traffic" {
  type        = string
  description = "\"on\" (AWS's default): PrivateLink traffic must pass the NLB security group's inbound rules, judged by the consumer's private address. \"off\": PrivateLink traffic bypasses them (other traffic is still checked). Needs nlb_security_group_ingress_cidrs."
  default     = "on"
  nullable    = false
  validation {
    # ELBAPI/API_SetSecurityGroups.html (EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic):
    # valid values on | off.
    condition     = contains(["on", "off"], var.enforce_sg_inbound_rules_on_private_link_traffic)
    error_message = "enforce_sg_inbound_rules_on_private_link_traffic must be \"on\" or \"off\" (AWS's valid values; not true/false)."
  }
  validation {
    # NLB/load-balancer-security-groups.html#security-group-considerations: the setting exists
    # only on an NLB with security groups.
    condition     = var.enforce_sg_inbound_rules_on_private_link_traffic == "on" || var.nlb_security_group_ingress_cidrs != null
    error_message = "enforce_sg_inbound_rules_on_private_link_traffic = \"off\" needs NLB security groups: an NLB without any has no such setting, and AWS refuses SetSecurityGroups on an NLB created without them. Set nlb_security_group_ingress_cidrs (e.g. [\"10.10.0.0/16\"]), or leave the setting \"on\"."
  }
}

variable "create_ssm_endpoints" {
  type        = bool
  description = "ssm, ssmmessages and ec2messages interface endpoints in both VPCs, so SSM Run Command reaches the JERP instances and the client without internet (the AWS checks send commands to both). Needs attach_instance_profile. LocalStack does not need them."
  default     = false
  nullable    = false
  validation {
    condition     = !var.create_ssm_endpoints || var.attach_instance_profile
    error_message = "create_ssm_endpoints = true needs attach_instance_profile = true: the SSM agent registers with the instance role. Turn both on (AWS) or both off (LocalStack)."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels (JERP and its dependencies) the JERP instances install offline; `make wheelhouse` builds it."
  nullable    = false
  # Checked by a precondition in the provider module, not here: a validation would also stop
  # `terraform destroy` once the directory is gone.
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource. Name is set per resource, so it is not allowed here."
  default     = {}
  nullable    = false
  validation {
    condition     = !contains(keys(var.tags), "Name")
    error_message = "tags must not set Name: the kit names every resource itself (<name>-provider, <name>-nlb, ...). Change var.name instead."
  }
  validation {
    condition = length(var.tags) <= 40 && alltrue([
      for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")
    ])
    error_message = "tags must be at most 40 (AWS allows 50 per resource; the kit adds Name), keys 1-128 characters not starting with aws:, values up to 256 characters."
  }
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the instances an IAM instance profile (SSM and wheelhouse access). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
  nullable    = false
}
