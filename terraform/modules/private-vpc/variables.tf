variable "name" {
  type        = string
  description = "Name tag of the VPC; its default security group, subnets and endpoints are named <name>-..."
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 lowercase letters, digits or '-', starting with a letter (e.g. jerp-provider)."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC, /16 to /28."
  nullable    = false
  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR such as 10.10.0.0/16."
  }
  validation {
    condition     = try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 28, false)
    error_message = "vpc_cidr must be /16 to /28 (the sizes AWS accepts for a VPC), e.g. 10.10.0.0/16."
  }
  validation {
    condition     = try(cidrsubnet(var.vpc_cidr, 0, 0) == var.vpc_cidr, false)
    error_message = "vpc_cidr must start at its network address: use ${try(cidrsubnet(var.vpc_cidr, 0, 0), "e.g. 10.10.0.0/16")}."
  }
}

variable "private_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Private subnets, at most one per availability zone, each inside vpc_cidr."
  nullable    = false
  validation {
    condition     = length(var.private_subnets) >= 1
    error_message = "private_subnets is empty: give at least one { availability_zone, cidr_block }."
  }
  validation {
    condition     = length(distinct(var.private_subnets[*].availability_zone)) == length(var.private_subnets)
    error_message = "private_subnets has two subnets in one availability zone: use one subnet per AZ."
  }
  validation {
    condition     = alltrue([for s in var.private_subnets : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", s.availability_zone))])
    error_message = "every private_subnets[*].availability_zone must be an AZ name such as ap-northeast-2a."
  }
  validation {
    condition     = alltrue([for s in var.private_subnets : try(cidrsubnet(s.cidr_block, 0, 0) == s.cidr_block && tonumber(split("/", s.cidr_block)[1]) <= 28, false)])
    error_message = "every private_subnets[*].cidr_block must be an IPv4 network CIDR of /28 or larger, such as 10.10.1.0/24."
  }
  validation {
    condition = alltrue([
      for s in var.private_subnets : try(
        tonumber(split("/", s.cidr_block)[1]) >= tonumber(split("/", var.vpc_cidr)[1]) &&
        cidrsubnet("${cidrhost(s.cidr_block, 0)}/${split("/", var.vpc_cidr)[1]}", 0, 0) == cidrsubnet(var.vpc_cidr, 0, 0),
        false
      )
    ])
    error_message = "every private_subnets[*].cidr_block must lie inside vpc_cidr ${var.vpc_cidr}: carve the subnets out of it (cidrsubnet(vpc_cidr, 8, n))."
  }
  validation {
    condition = alltrue(flatten([
      for i, a in var.private_subnets : [
        for b in slice(var.private_subnets, i + 1, length(var.private_subnets)) : try(
          cidrsubnet("${cidrhost(a.cidr_block, 0)}/${min(tonumber(split("/", a.cidr_block)[1]), tonumber(split("/", b.cidr_block)[1]))}", 0, 0) !=
          cidrsubnet("${cidrhost(b.cidr_block, 0)}/${min(tonumber(split("/", a.cidr_block)[1]), tonumber(split("/", b.cidr_block)[1]))}", 0, 0),
          false
        )
      ]
    ]))
    error_message = "private_subnets overlap: give every subnet its own range (e.g. 10.10.1.0/24 and 10.10.3.0/24)."
  }
}

variable "create_ssm_endpoints" {
  type        = bool
  description = "Create ssm, ssmmessages and ec2messages interface endpoints (and their security group: 443 from the VPC) so SSM Run Command reaches the instances without internet. Needed on AWS when commands are sent to instances here; LocalStack does not need them."
  default     = false
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (Name is set per resource)."
  default     = {}
  nullable    = false
}
