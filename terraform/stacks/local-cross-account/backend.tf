# State lives where the harness points it at init (`-backend-config=path=<state dir>/...`):
# one state per environment, never in this directory. Without that flag Terraform uses
# terraform.tfstate here, as it would without this block.
terraform {
  backend "local" {}
}
