"""The Terraform modules' own tests (``terraform test`` against mock AWS providers), run here so
``make test`` runs them.

No AWS and no LocalStack: only ``terraform`` and the hashicorp/aws provider, from the registry
or from the filesystem mirror named by ``TF_CLI_CONFIG_FILE`` (what ``.ci/run`` and ``make lint``
use). Each module is copied to a temporary directory first, so ``terraform init`` leaves nothing
in the source tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.settings import REPO_ROOT

pytestmark = pytest.mark.requires("terraform")

TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES = sorted({p.parent.parent.name for p in TERRAFORM_DIR.glob("modules/*/tests/*.tftest.hcl")})
NO_PROVIDER = re.compile(r"Failed to query available provider packages|Failed to install provider")
HOW_TO_GET_THE_PROVIDER = (
    "terraform init found no hashicorp/aws provider: run online (registry.terraform.io), or "
    "point TF_CLI_CONFIG_FILE at a CLI config with a filesystem_mirror of the provider, as "
    ".ci/run writes to .harness/terraformrc"
)
TIMEOUT_S = 600  # the kit's runs each start the provider (~2 s); a hang must not stall the suite


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/ (modules and their shared test data) without local init state."""
    root = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        root,
        symlinks=True,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    return root


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    config = env.get("TF_CLI_CONFIG_FILE")
    if not (config and Path(config).is_file()):
        env.pop("TF_CLI_CONFIG_FILE", None)
        # From the registry: download the provider once for every module, not once each.
        env["TF_PLUGIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("tf-plugin-cache"))
    return env


def _terraform(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def _init(module: Path, env: dict[str, str], *extra: str) -> None:
    result = _terraform(["init", "-backend=false", "-input=false", *extra], module, env)
    if result.returncode != 0 and NO_PROVIDER.search(result.stderr + result.stdout):
        pytest.skip(HOW_TO_GET_THE_PROVIDER)
    assert result.returncode == 0, f"terraform init in {module.name} failed:\n{result.stderr}"


@pytest.mark.parametrize("name", MODULES)
def test_module_tests_pass(name: str, workdir: Path, tf_env: dict[str, str]) -> None:
    module = workdir / "modules" / name
    _init(module, tf_env)
    result = _terraform(["test"], module, tf_env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"terraform test in modules/{name} failed:\n{output}"
    # Every run block ran and passed (none skipped after an earlier failure).
    declared = sum(
        len(re.findall(r'^run "', f.read_text(), flags=re.MULTILINE))
        for f in (module / "tests").glob("*.tftest.hcl")
    )
    assert f"Success! {declared} passed, 0 failed." in output, output


def test_modules_with_tests_include_the_kit_and_its_parts() -> None:
    assert {"privatelink-kit", "privatelink-provider", "privatelink-consumer"} <= set(MODULES)
    assert {"private-vpc", "private-instances"} <= set(MODULES)


# A plan of the kit with values from a var file, against mock providers: the good file plans,
# the bad one (the consumer VPC inside the provider's) stops with the validation's message.
PLAN_ONLY_TEST = """
mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "aws" {
  alias  = "consumer"
  source = "../../tests/mocks"
}

run "plan_with_the_var_file" {
  command = plan
}
"""

GOOD_VALUES = {
    "ami_id": "ami-0123456789abcdef0",
    "wheelhouse_dir": "../../tests/wheels",
    "provider_vpc_cidr": "10.10.0.0/16",
    "provider_subnets": [{"availability_zone": "ap-northeast-2a", "cidr_block": "10.10.1.0/24"}],
    "consumer_vpc_cidr": "10.20.0.0/16",
    "consumer_subnets": [{"availability_zone": "ap-northeast-2a", "cidr_block": "10.20.1.0/24"}],
}
OVERLAPPING_VALUES = {
    **GOOD_VALUES,
    "consumer_vpc_cidr": "10.10.0.0/16",
    "consumer_subnets": [{"availability_zone": "ap-northeast-2a", "cidr_block": "10.10.2.0/24"}],
}


def _plan_kit_with(values: dict[str, object], workdir: Path, env: dict[str, str]) -> str:
    kit = workdir / "modules" / "privatelink-kit"
    (kit / "plan_only").mkdir(exist_ok=True)
    (kit / "plan_only" / "plan.tftest.hcl").write_text(PLAN_ONLY_TEST)
    var_file = kit / "values.tfvars.json"
    var_file.write_text(json.dumps(values))
    _init(kit, env, "-test-directory=plan_only")
    result = _terraform(["test", "-test-directory=plan_only", f"-var-file={var_file}"], kit, env)
    output = result.stdout + result.stderr
    return ("passed" if result.returncode == 0 else "failed") + "\n" + output


def test_kit_plans_with_good_values(workdir: Path, tf_env: dict[str, str]) -> None:
    outcome = _plan_kit_with(GOOD_VALUES, workdir, tf_env)
    assert outcome.startswith("passed"), outcome


def test_kit_rejects_overlapping_vpcs_with_a_message_naming_the_fix(
    workdir: Path, tf_env: dict[str, str]
) -> None:
    outcome = _plan_kit_with(OVERLAPPING_VALUES, workdir, tf_env)
    assert outcome.startswith("failed"), outcome
    flat = " ".join(outcome.split())
    assert "consumer_vpc_cidr 10.10.0.0/16 overlaps provider_vpc_cidr 10.10.0.0/16" in flat, outcome
    assert "give the consumer its own range" in flat, outcome
