"""The control plane: LocalStack (with the kit's PrivateLink plug-in), AWS clients, and the
Terraform wrapper that applies the stacks to it."""
