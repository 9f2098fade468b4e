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
    interval            = optional(number, 10)
    healthy_threshold   = optional(number, 3)
    unhealthy_threshold = optional(number, 3)
  })
  description = "HTTP health check of the targets, as the NLB runs it."
  default     = {}
  nullable    = false
  validation {
    condition     = startswith(var.health_check.path, "/") && contains([10, 30], var.health_check.interval)
    error_message = "health_check.path must start with '/' and health_check.interval must be 10 or 30 (NLB limits)."
  }
  validation {
    condition     = alltrue([for t in [var.health_check.healthy_threshold, var.health_check.unhealthy_threshold] : t >= 2 && t <= 10])
    error_message = "health_check.healthy_threshold and unhealthy_threshold must be 2-10 (NLB limits)."
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
