variable "name" {
  type        = string
  description = "Prefix of the IAM role and instance profile names (AWS adds a unique suffix)."
  nullable    = false
  validation {
    # name_prefix allows 38 characters for IAM roles; AWS appends 26.
    condition     = can(regex("^[a-z][a-z0-9-]{0,36}$", var.name))
    error_message = "name must be 1-37 lowercase letters, digits or '-', starting with a letter (e.g. jerp-instance)."
  }
}

variable "instances" {
  type = map(object({
    subnet_id = string
    name      = string
    user_data = optional(string)
  }))
  description = "Instances to create, by a key of your choice: subnet, Name tag, optional user_data."
  nullable    = false
}

variable "ami_id" {
  type        = string
  description = "AMI of every instance."
  nullable    = false
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of every instance."
  default     = "t3.micro"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t3.micro."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of every instance."
  nullable    = false
  validation {
    condition     = length(var.security_group_ids) >= 1 && length(var.security_group_ids) <= 5
    error_message = "security_group_ids needs 1 to 5 security groups (an instance without one would get the VPC's default group)."
  }
}

variable "attach_instance_profile" {
  type        = bool
  description = "Create the IAM role (SSM core + inline_policies) and give the instances its instance profile. LocalStack's EC2 cannot see IAM instance profiles, so the local stack turns this off."
  default     = true
  nullable    = false
}

variable "inline_policies" {
  type        = map(string)
  description = "Extra inline policies of the role (JSON documents) by policy name."
  default     = {}
  nullable    = false
}

variable "root_volume_size" {
  type        = number
  description = "Size of the encrypted gp3 root volume in GiB."
  default     = 8
  nullable    = false
  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be 8-16384 GiB (Amazon Linux 2023 needs at least 8)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (Name is set per instance)."
  default     = {}
  nullable    = false
}
