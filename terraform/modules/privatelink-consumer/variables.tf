variable "name" {
  type        = string
  description = "Name prefix of every resource (Name tags: <name>-consumer, <name>-consumer-client)."
  default     = "jerp"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name))
    error_message = "name must be 1-21 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the consumer VPC; must not overlap the provider's only if you ever peer them (PrivateLink does not care)."
  default     = "10.20.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 28
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /28, e.g. 10.20.0.0/16."
  }
}

variable "private_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Consumer subnets, one per AZ; the endpoint gets one ENI in each. Only AZs the service offers."
  validation {
    condition     = length(var.private_subnets) >= 1 && length(distinct([for s in var.private_subnets : s.availability_zone])) == length(var.private_subnets)
    error_message = "private_subnets needs at least one subnet and at most one per availability zone."
  }
}

variable "service_name" {
  type        = string
  description = "Endpoint service name (com.amazonaws.vpce.<region>.vpce-svc-...)."
  validation {
    condition     = can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]+$", var.service_name))
    error_message = "service_name must look like com.amazonaws.vpce.<region>.vpce-svc-<id>."
  }
}

variable "service_availability_zones" {
  type        = list(string)
  description = "AZs the endpoint service offers; every consumer subnet must be in one of them."
}

variable "endpoint_port" {
  type        = number
  description = "Port consumers connect to (the NLB listener port)."
  default     = 80
}

variable "ami_id" {
  type        = string
  description = "AMI of the client instance."
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the client instance."
  default     = "t3.micro"
}

variable "create_client_instance" {
  type        = bool
  description = "Create the client instance the checks run from (the seed's instance in the requesting VPC)."
  default     = true
}

variable "enable_ssm_endpoints" {
  type        = bool
  description = "Create ssm, ssmmessages and ec2messages interface endpoints so SSM reaches the client without internet (AWS)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the instances an IAM instance profile (SSM). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
}
