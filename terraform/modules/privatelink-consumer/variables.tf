variable "name" {
  type        = string
  description = "Name prefix of every resource (Name tags: <name>-consumer, <name>-consumer-client, <name>-endpoint)."
  default     = "jerp"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,19}[a-z0-9])?$", var.name))
    error_message = "name must be 1-21 lowercase letters, digits or '-', starting with a letter and not ending with '-' (e.g. jerp)."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the consumer VPC (the private-vpc module validates it). PrivateLink itself allows it to overlap the provider's; the kit does not, so the checks can tell the VPCs apart."
  default     = "10.20.0.0/16"
  nullable    = false
}

variable "private_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Consumer subnets, one per AZ, inside vpc_cidr; the endpoint gets one ENI in each. Only AZs the service offers."
  nullable    = false
  validation {
    condition     = alltrue([for s in var.private_subnets : contains(var.service_availability_zones, s.availability_zone)])
    error_message = "The endpoint service does not support the availability zone(s) ${join(", ", [for s in var.private_subnets : s.availability_zone if !contains(var.service_availability_zones, s.availability_zone)])}: put the consumer subnets in ${join(", ", var.service_availability_zones)}."
  }
}

variable "service_name" {
  type        = string
  description = "Endpoint service name (com.amazonaws.vpce.<region>.vpce-svc-...)."
  nullable    = false
  validation {
    condition     = can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]+$", var.service_name))
    error_message = "service_name must look like com.amazonaws.vpce.<region>.vpce-svc-<id> (the provider module's endpoint_service_name output)."
  }
}

variable "service_availability_zones" {
  type        = list(string)
  description = "AZs the endpoint service offers (the provider module's availability_zones output); every consumer subnet must be in one of them."
  nullable    = false
  validation {
    condition     = length(var.service_availability_zones) >= 1 && length(distinct(var.service_availability_zones)) == length(var.service_availability_zones)
    error_message = "service_availability_zones must list each AZ of the endpoint service once, and at least one (e.g. [\"ap-northeast-2a\", \"ap-northeast-2c\"])."
  }
}

variable "endpoint_port" {
  type        = number
  description = "Port consumers connect to (the NLB listener port): the endpoint and client security groups open it."
  default     = 80
  nullable    = false
  validation {
    condition     = var.endpoint_port >= 1 && var.endpoint_port <= 65535 && floor(var.endpoint_port) == var.endpoint_port
    error_message = "endpoint_port must be a whole TCP port number, 1-65535 (the provider's listener_port)."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI of the client instance."
  nullable    = false
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the client instance."
  default     = "t3.micro"
  nullable    = false
}

variable "create_client_instance" {
  type        = bool
  description = "Create the client instance the checks run from (the seed's instance in the requesting VPC)."
  default     = true
  nullable    = false
}

variable "create_ssm_endpoints" {
  type        = bool
  description = "Create ssm, ssmmessages and ec2messages interface endpoints in the consumer VPC so SSM Run Command (the AWS checks) reaches the client without internet. Needs attach_instance_profile."
  default     = false
  nullable    = false
  validation {
    condition     = !var.create_ssm_endpoints || var.attach_instance_profile
    error_message = "create_ssm_endpoints = true needs attach_instance_profile = true: the SSM agent registers with the instance role. Turn both on (AWS) or both off (LocalStack)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (Name is set per resource)."
  default     = {}
  nullable    = false
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the client an IAM instance profile (SSM). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
  nullable    = false
}
