variable "name" {
  type        = string
  description = "Name prefix of every resource: the NLB is <name>-nlb, the target group <name>-tg, instances <name>-provider-1, ..."
  default     = "jerp"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,19}[a-z0-9])?$", var.name))
    error_message = "name must be 1-21 lowercase letters, digits or '-', starting with a letter and not ending with '-': it prefixes the NLB name <name>-nlb (AWS: at most 32 alphanumerics or hyphens). Try e.g. jerp."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the provider VPC (the seed uses 10.10.0.0/16); the private-vpc module validates it."
  default     = "10.10.0.0/16"
  nullable    = false
}

variable "private_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Private subnets, one per AZ, inside vpc_cidr; one JERP instance and one NLB node in each. The private-vpc module validates them."
  nullable    = false
}

variable "ami_id" {
  type        = string
  description = "AMI of the JERP instances (Amazon Linux 2023 on AWS; any registered image on LocalStack)."
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the JERP targets; JERP runs one worker per vCPU."
  default     = "t3.micro"
  nullable    = false
}

variable "target_port" {
  type        = number
  description = "Port JERP listens on; the target group sends traffic and health checks there."
  default     = 8080
  nullable    = false
  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535 && floor(var.target_port) == var.target_port
    error_message = "target_port must be a whole TCP port number, 1-65535."
  }
}

variable "listener_port" {
  type        = number
  description = "TCP port of the NLB listener (and so of the endpoint)."
  default     = 80
  nullable    = false
  validation {
    condition     = var.listener_port >= 1 && var.listener_port <= 65535 && floor(var.listener_port) == var.listener_port
    error_message = "listener_port must be a whole TCP port number, 1-65535."
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
  description = "HTTP health check of the targets, as the NLB runs it."
  default     = {}
  nullable    = false
  # AWS limits (ELBAPI/API_CreateTargetGroup.html, HealthCheck* parameters): interval 5-300 s
  # for every protocol (NLBs took only 10 or 30 until November 2022), thresholds 2-10.
  validation {
    condition     = startswith(var.health_check.path, "/") && length(var.health_check.path) <= 1024
    error_message = "health_check.path must start with '/' and be at most 1024 characters (AWS's limit), e.g. /healthz."
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

# The target group's attributes (NLB/edit-target-group-attributes.html).

variable "deregistration_delay" {
  type        = number
  description = "Seconds a deregistered target stays draining (open flows continue, no new ones) before it is removed: the target group's deregistration_delay.timeout_seconds. AWS's default is 300; the kit's 30 keeps replacements quick."
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
  description = "The target group sends a PROXY protocol v2 header on every connection to a target (health checks included), carrying the consumer's address and, through PrivateLink, the endpoint id. JERP is started to read it (see jerp_accepts_proxy_protocol_v2)."
  default     = false
  nullable    = false
}

variable "jerp_accepts_proxy_protocol_v2" {
  type        = bool
  description = "Start JERP with JERP_PROXY_PROTOCOL=v2 (it then reads the header and answers X-Vpce-Id). null (default) follows proxy_protocol_v2. false with proxy_protocol_v2 = true reproduces an application not set up for the header: AWS sends it on health checks too, so every target turns unhealthy."
  default     = null
  validation {
    condition     = var.jerp_accepts_proxy_protocol_v2 != true || var.proxy_protocol_v2
    error_message = "jerp_accepts_proxy_protocol_v2 = true needs proxy_protocol_v2 = true: JERP would wait for a PROXY v2 header the target group never sends and refuse every connection, health checks included. Turn proxy_protocol_v2 on, or leave jerp_accepts_proxy_protocol_v2 null."
  }
}

variable "target_group_cross_zone" {
  type        = string
  description = "The target group's load_balancing.cross_zone.enabled: true, false, or use_load_balancer_configuration (default: follow enable_cross_zone_load_balancing). The target group's value wins over the NLB's."
  default     = "use_load_balancer_configuration"
  nullable    = false
  validation {
    # NLB/target-group-cross-zone.html: the attribute takes exactly these three values.
    condition     = contains(["true", "false", "use_load_balancer_configuration"], var.target_group_cross_zone)
    error_message = "target_group_cross_zone must be \"true\", \"false\" or \"use_load_balancer_configuration\" (the values AWS's load_balancing.cross_zone.enabled takes)."
  }
}

# The NLB's security groups (NLB/load-balancer-security-groups.html).

variable "nlb_security_group_ingress_cidrs" {
  type        = list(string)
  description = "Give the NLB a security group admitting the listener port from these CIDRs (and sending the target port to the provider subnets). null (default): an NLB without security groups, which admits everything, as in the seed. AWS sets an NLB's security groups only at creation: changing between null and a list replaces the NLB."
  default     = null
  validation {
    condition     = var.nlb_security_group_ingress_cidrs == null || alltrue([for c in coalesce(var.nlb_security_group_ingress_cidrs, []) : can(cidrnetmask(c))])
    error_message = "nlb_security_group_ingress_cidrs must be null or a list of IPv4 CIDRs such as [\"10.20.0.0/16\"] (the consumer VPC, when the NLB's rules apply to PrivateLink traffic)."
  }
}

variable "enforce_sg_inbound_rules_on_private_link_traffic" {
  type        = string
  description = "on (AWS's default): PrivateLink traffic is checked against the NLB security group's inbound rules, with the consumer's private address as source. off: PrivateLink traffic bypasses them. Only an NLB with security groups has the setting."
  default     = "on"
  nullable    = false
  validation {
    # ELBAPI/API_SetSecurityGroups.html: valid values on | off.
    condition     = contains(["on", "off"], var.enforce_sg_inbound_rules_on_private_link_traffic)
    error_message = "enforce_sg_inbound_rules_on_private_link_traffic must be \"on\" or \"off\" (AWS's valid values)."
  }
  validation {
    condition     = var.enforce_sg_inbound_rules_on_private_link_traffic == "on" || var.nlb_security_group_ingress_cidrs != null
    error_message = "enforce_sg_inbound_rules_on_private_link_traffic = \"off\" needs NLB security groups: an NLB without any has no such setting and AWS refuses SetSecurityGroups on it. Set nlb_security_group_ingress_cidrs (e.g. [\"10.10.0.0/16\"]), or leave the setting \"on\"."
  }
}

variable "enable_cross_zone_load_balancing" {
  type        = bool
  description = "Let each NLB node send to targets in every AZ (off by default, as on AWS)."
  default     = false
  nullable    = false
}

variable "acceptance_required" {
  type        = bool
  description = "Whether endpoint connections wait in pendingAcceptance until the provider accepts them."
  default     = true
  nullable    = false
}

variable "allowed_principals" {
  type        = list(string)
  description = "Principals (ARNs, e.g. arn:aws:iam::123456789012:root) allowed to create endpoints to the service."
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for p in var.allowed_principals : p == "*" || can(regex("^arn:aws[a-z-]*:iam::\\d{12}:", p))])
    error_message = "allowed_principals entries must be IAM ARNs such as arn:aws:iam::123456789012:root (or \"*\")."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels (JERP and its dependencies) the instances install offline; `make wheelhouse` builds it."
  nullable    = false
  # Checked by a precondition in the provider module, not here: a validation would also stop
  # `terraform destroy` once the directory is gone.
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (Name is set per resource)."
  default     = {}
  nullable    = false
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the instances an IAM instance profile (SSM, reading the wheelhouse). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
  nullable    = false
}

variable "create_ssm_endpoints" {
  type        = bool
  description = "Create ssm, ssmmessages and ec2messages interface endpoints in the provider VPC, so SSM Run Command (the AWS checks) reaches the JERP instances without internet. Needs attach_instance_profile."
  default     = false
  nullable    = false
  validation {
    condition     = !var.create_ssm_endpoints || var.attach_instance_profile
    error_message = "create_ssm_endpoints = true needs attach_instance_profile = true: the SSM agent registers with the instance role. Turn both on (AWS) or both off (LocalStack)."
  }
}
