"""Harness: LocalStack lifecycle, Terraform runner, local PrivateLink data plane, live checks."""
