# Hardening and IAM wiring of the shared instance module against a mock AWS provider.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name               = "jerp-instance"
  ami_id             = "ami-0123456789abcdef0"
  security_group_ids = ["sg-0123456789abcdef0"]
  inline_policies    = { read-wheelhouse = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  instances = {
    a = { subnet_id = "subnet-0000000000000000a", name = "jerp-provider-1", user_data = "#!/bin/bash\necho a" }
    c = { subnet_id = "subnet-0000000000000000c", name = "jerp-provider-2" }
  }
}

run "imdsv2_only_encrypted_root_and_one_shared_profile" {
  assert {
    condition = alltrue([
      for i in aws_instance.this :
      i.metadata_options[0].http_tokens == "required" && i.metadata_options[0].http_endpoint == "enabled" &&
      i.root_block_device[0].encrypted && i.iam_instance_profile == aws_iam_instance_profile.this[0].name
    ])
    error_message = "every instance needs IMDSv2 only, an encrypted root volume and the module's instance profile"
  }
  assert {
    condition     = aws_instance.this["a"].subnet_id == "subnet-0000000000000000a" && aws_instance.this["a"].tags["Name"] == "jerp-provider-1" && aws_instance.this["a"].user_data == "#!/bin/bash\necho a"
    error_message = "an instance must get its own subnet, Name tag and user_data"
  }
  assert {
    condition     = alltrue([for i in aws_instance.this : i.user_data_replace_on_change])
    error_message = "user_data runs only at first boot: a changed script (JERP's settings) must replace the instance"
  }
  assert {
    condition     = aws_iam_role_policy_attachment.ssm_core[0].policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" && aws_iam_role_policy_attachment.ssm_core[0].role == aws_iam_role.this[0].name
    error_message = "the role must carry AmazonSSMManagedInstanceCore so SSM can run commands on the instances"
  }
  assert {
    condition     = jsonencode(keys(aws_iam_role_policy.inline)) == jsonencode(["read-wheelhouse"]) && jsondecode(aws_iam_role.this[0].assume_role_policy).Statement[0].Principal.Service == "ec2.amazonaws.com"
    error_message = "inline policies go on the role, which EC2 assumes"
  }
}

run "no_profile_no_iam" {
  variables {
    attach_instance_profile = false
  }
  assert {
    condition     = length(aws_iam_role.this) == 0 && length(aws_iam_instance_profile.this) == 0 && length(aws_iam_role_policy.inline) == 0
    error_message = "attach_instance_profile = false must create no role, policy or instance profile"
  }
}

run "no_instances_no_role" {
  command = plan
  variables {
    instances = {}
  }
  assert {
    condition     = length(aws_iam_role.this) == 0 && output.role_name == null
    error_message = "no instances, no role"
  }
}

run "bad_ami" {
  command = plan
  variables {
    ami_id = "ubuntu-22.04"
  }
  expect_failures = [var.ami_id]
}

run "no_security_group" {
  command = plan
  variables {
    security_group_ids = []
  }
  expect_failures = [var.security_group_ids]
}

run "bad_instance_type" {
  command = plan
  variables {
    instance_type = "t3"
  }
  expect_failures = [var.instance_type]
}
