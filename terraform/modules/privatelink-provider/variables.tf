variable "name" {
  type        = string
  description = "Name prefix of every resource (and Name tags: <name>-provider-1, ...)."
  default     = "jerp"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name))
    error_message = "name must be 1-21 lowercase letters, digits or '-', starting with a letter (it prefixes load balancer and target group names, max 32 characters)."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the provider VPC (the seed uses 10.10.0.0/16)."
  default     = "10.10.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 28
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /28, e.g. 10.10.0.0/16."
  }
}

variable "private_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Private subnets, one per AZ; one JERP instance and one NLB node in each."
  validation {
    condition     = length(var.private_subnets) >= 1 && length(distinct([for s in var.private_subnets : s.availability_zone])) == length(var.private_subnets)
    error_message = "private_subnets needs at least one subnet and at most one per availability zone."
  }
  validation {
    condition     = alltrue([for s in var.private_subnets : can(cidrnetmask(s.cidr_block))])
    error_message = "every private_subnets[*].cidr_block must be an IPv4 CIDR such as 10.10.1.0/24."
  }
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
  description = "EC2 instance type of the JERP targets."
  default     = "t3.micro"
}

variable "target_port" {
  type        = number
  description = "Port JERP listens on; the target group sends traffic and health checks there."
  default     = 8080
  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be a TCP port (1-65535)."
  }
}

variable "listener_port" {
  type        = number
  description = "TCP port of the NLB listener (and so of the endpoint)."
  default     = 80
  validation {
    condition     = var.listener_port >= 1 && var.listener_port <= 65535
    error_message = "listener_port must be a TCP port (1-65535)."
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
  validation {
    condition     = startswith(var.health_check.path, "/") && contains([10, 30], var.health_check.interval)
    error_message = "health_check.path must start with '/' and health_check.interval must be 10 or 30 (NLB limits)."
  }
}

variable "enable_cross_zone_load_balancing" {
  type        = bool
  description = "Let each NLB node send to targets in every AZ (off by default, as on AWS)."
  default     = false
}

variable "acceptance_required" {
  type        = bool
  description = "Whether endpoint connections wait in pendingAcceptance until the provider accepts them."
  default     = true
}

variable "allowed_principals" {
  type        = list(string)
  description = "Principals (ARNs, e.g. arn:aws:iam::123456789012:root) allowed to create endpoints to the service."
  default     = []
  validation {
    condition     = alltrue([for p in var.allowed_principals : p == "*" || can(regex("^arn:aws[a-z-]*:iam::\\d{12}:", p))])
    error_message = "allowed_principals entries must be IAM ARNs such as arn:aws:iam::123456789012:root (or \"*\")."
  }
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels (JERP and its dependencies) the instances install offline; `make wheelhouse` builds it."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the instances an IAM instance profile (SSM, reading the wheelhouse). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
}
