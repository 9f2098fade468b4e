"""Corpus, row acct-cross-account-flow on the whole path: ``STACK=local-cross-account``
deployed the way ``make deploy`` does it (``python -m harness deploy``, its own state directory
and LocalStack port), the service in account A, the endpoint in account B, and every live check
passing; then torn down. About three minutes (one LocalStack, one NLB apply).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.controlplane.aws import CROSS_ACCOUNT_IDS, AwsClients
from harness.settings import REPO_ROOT
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.root]

DEPLOY_TIMEOUT_S = 600.0


class CrossAccountHarness:
    """``python -m harness <command>`` with STACK=local-cross-account, as `make` runs it."""

    def __init__(self, state_dir: Path, port: int, localstack_env: dict[str, str]) -> None:
        self.state_dir = state_dir
        self.port = port
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "LOCALSTACK_ENDPOINT"},
            **localstack_env,
            "STACK": "local-cross-account",
            "HARNESS_STATE_DIR": str(state_dir),
            "LOCALSTACK_PORT": str(port),
        }

    def run(self, command: str, *args: str, timeout_s: float = DEPLOY_TIMEOUT_S) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "harness", command, *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def cross_account(
    tmp_path_factory: pytest.TempPathFactory, localstack_env: dict[str, str]
) -> Iterator[CrossAccountHarness]:
    harness = CrossAccountHarness(
        tmp_path_factory.mktemp("xacct-state"), free_port(), localstack_env
    )
    try:
        code, out = harness.run("deploy")
        assert code == 0, f"STACK=local-cross-account deploy failed:\n{out[-4000:]}"
        yield harness
    finally:
        # LocalStack holds the resources in memory: stopping it removes them. Without the state
        # file `destroy` skips `terraform destroy` (~60 s, the same resources and providers as
        # the deploy; run by hand with `STACK=local-cross-account make destroy`) and stops the
        # data plane and LocalStack, which is what this test must leave behind.
        (harness.state_dir / "terraform-local-cross-account.tfstate").unlink(missing_ok=True)
        code, out = harness.run("destroy")
        assert code == 0, f"STACK=local-cross-account destroy failed:\n{out[-4000:]}"


def test_cross_account_stack_deploys_and_every_check_passes(
    cross_account: CrossAccountHarness,
) -> None:
    junit = cross_account.state_dir / "checks.xml"
    code, out = cross_account.run("check", "--junit", str(junit), timeout_s=120)
    assert code == 0 and " 0 failed" in out, out

    service, consumer = CROSS_ACCOUNT_IDS
    url = f"http://127.0.0.1:{cross_account.port}"
    b = AwsClients("ap-northeast-2", url, access_key=consumer).ec2()
    a = AwsClients("ap-northeast-2", url, access_key=service).ec2()
    endpoints = b.describe_vpc_endpoints()["VpcEndpoints"]
    assert [(e["OwnerId"], str(e["State"])) for e in endpoints] == [(consumer, "available")]
    # A sees the connection from B, and has no endpoint of its own to its service.
    connections = a.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
    assert [(c["VpcEndpointOwner"], str(c["VpcEndpointState"])) for c in connections] == [
        (consumer, "available")
    ]
    services = a.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
    assert len(services) == 1
    permissions = a.describe_vpc_endpoint_service_permissions(ServiceId=services[0]["ServiceId"])
    assert [p["Principal"] for p in permissions["AllowedPrincipals"]] == [
        f"arn:aws:iam::{consumer}:root"
    ]
