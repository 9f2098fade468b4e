variable "name" {
  type        = string
  description = "Name prefix of every resource."
  default     = "jerp"
}

variable "ami_id" {
  type        = string
  description = "AMI of the JERP instances and of the client instance."
}

variable "provider_vpc_cidr" {
  type        = string
  description = "CIDR of the provider VPC."
  default     = "10.10.0.0/16"
}

variable "provider_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Provider private subnets (one JERP instance and one NLB node each)."
}

variable "consumer_vpc_cidr" {
  type        = string
  description = "CIDR of the consumer VPC."
  default     = "10.20.0.0/16"
}

variable "consumer_subnets" {
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))
  description = "Consumer subnets (one endpoint ENI each); AZs must be among the provider's."
}

variable "acceptance_required" {
  type        = bool
  description = "Endpoint connections wait in pendingAcceptance until accepted."
  default     = true
}

variable "accept_connection" {
  type        = bool
  description = "Accept the consumer's connection here (same account). False leaves it pendingAcceptance, for a cross-account accepter or a manual `aws ec2 accept-vpc-endpoint-connections`."
  default     = true
}

variable "allowed_principals" {
  type        = list(string)
  description = "Principals allowed to create endpoints to the service."
  default     = []
}

variable "enable_cross_zone_load_balancing" {
  type        = bool
  description = "NLB cross-zone load balancing (off by default, as on AWS)."
  default     = false
}

variable "enable_ssm_endpoints" {
  type        = bool
  description = "SSM interface endpoints in the consumer VPC (needed on AWS for checks through SSM)."
  default     = false
}

variable "wheelhouse_dir" {
  type        = string
  description = "Directory of wheels the JERP instances install offline."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "attach_instance_profile" {
  type        = bool
  description = "Give the instances an IAM instance profile (SSM and wheelhouse access). LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
}
