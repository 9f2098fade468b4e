"""The local stack applied to a fresh LocalStack (with the kit's plug-in), seen through the AWS API.

Slow (LocalStack start plus two applies and a destroy): marked ``integration``. Needs Terraform
on PATH and the hashicorp/aws provider reachable (registry, or a filesystem mirror named by
``TF_CLI_CONFIG_FILE``); run with ``.venv/bin/pytest -m integration tests/integration``.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.controlplane.aws import AwsClients
from harness.controlplane.terraform import Terraform
from harness.settings import REPO_ROOT, load_settings
from tests.conftest import free_port
from tests.localstack_variants import running

pytestmark = pytest.mark.integration

STACK_DIR = REPO_ROOT / "terraform" / "stacks" / "local"


def _in_any(address: str, cidrs: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(c) for c in cidrs)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("local-stack")
    port = free_port()
    settings = load_settings(
        STACK="local",
        LOCALSTACK_HOST="127.0.0.1",
        LOCALSTACK_PORT=port,
        LOCALSTACK_ENDPOINT=f"http://127.0.0.1:{port}",
        HARNESS_STATE_DIR=tmp / "state",
    )
    # A wheelhouse with one (dummy) wheel: the bucket upload path is exercised, nothing runs it.
    wheelhouse = tmp / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "jerp-0.0.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    variables: dict[str, Any] = {
        "wheelhouse_dir": str(wheelhouse),
        "localstack_endpoint": settings.localstack_url,
    }
    env = {**os.environ, "TF_DATA_DIR": str(tmp / "tf-data")}
    tf = Terraform(STACK_DIR, env=env, state_path=tmp / "terraform.tfstate")
    clients = AwsClients.from_settings(settings)
    timings: dict[str, float] = {}
    # Its own LocalStack, of the run's LOCALSTACK_MODE (a fresh one: the applies leave state).
    with running(settings, request) as localstack:
        tf.init()
        applied = False
        try:
            t0 = time.monotonic()
            tf.apply({**variables, "accept_connection": False})
            timings["apply_pending"] = time.monotonic() - t0
            applied = True
            pending_outputs = tf.output()
            ec2 = clients.ec2()
            pending_state = ec2.describe_vpc_endpoints(
                VpcEndpointIds=[pending_outputs["endpoint_id"]]
            )["VpcEndpoints"][0]["State"]
            pending_connections = ec2.describe_vpc_endpoint_connections(
                Filters=[{"Name": "service-id", "Values": [pending_outputs["endpoint_service_id"]]}]
            )["VpcEndpointConnections"]

            t0 = time.monotonic()
            tf.apply(variables)
            timings["apply_accept"] = time.monotonic() - t0
            yield {
                "tf": tf,
                "variables": variables,
                "clients": clients,
                "outputs": tf.output(),
                "pending_state": pending_state,
                "pending_connections": pending_connections,
                "timings": timings,
                "localstack": localstack,
            }
        finally:
            if applied:
                t0 = time.monotonic()
                tf.destroy(variables)
                timings["destroy"] = time.monotonic() - t0
            print(f"\nlocal stack timings (s): {timings}")


def test_endpoint_waits_for_acceptance_before_the_accepter(stack: dict[str, Any]) -> None:
    assert stack["pending_state"] == "pendingAcceptance"
    states = [c["VpcEndpointState"] for c in stack["pending_connections"]]
    assert states == ["pendingAcceptance"]


def test_endpoint_available_after_the_accepter(stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    ec2 = stack["clients"].ec2()
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[out["endpoint_id"]])["VpcEndpoints"][0]
    assert endpoint["State"] == "available"
    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["ServiceName"] == out["endpoint_service_name"]
    connections = ec2.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [out["endpoint_service_id"]]}]
    )["VpcEndpointConnections"]
    assert [c["VpcEndpointState"] for c in connections] == ["available"]


def test_nlb_is_internal_network_in_both_provider_subnets(stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    ec2 = stack["clients"].ec2()
    elbv2 = stack["clients"].elbv2()
    nlb = elbv2.describe_load_balancers(LoadBalancerArns=[out["nlb_arn"]])["LoadBalancers"][0]
    assert nlb["Type"] == "network"
    assert nlb["Scheme"] == "internal"
    assert nlb["DNSName"] == out["nlb_dns_name"]
    provider_subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [out["provider_vpc_id"]]}]
    )["Subnets"]
    assert len(provider_subnets) == 2
    assert {z["SubnetId"] for z in nlb["AvailabilityZones"]} == {
        s["SubnetId"] for s in provider_subnets
    }
    assert sorted(s["CidrBlock"] for s in provider_subnets) == ["10.10.1.0/24", "10.10.3.0/24"]


def test_every_provider_instance_is_a_registered_target(stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    elbv2 = stack["clients"].elbv2()
    group = elbv2.describe_target_groups(TargetGroupArns=[out["target_group_arn"]])["TargetGroups"][
        0
    ]
    assert (group["Protocol"], group["Port"]) == ("TCP", 8080)
    assert group["HealthCheckPath"] == "/healthz"
    health = elbv2.describe_target_health(TargetGroupArn=out["target_group_arn"])
    registered = {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]}
    assert registered == set(out["provider_instance_ids"])
    assert len(registered) == 2


def test_endpoint_eni_addresses_lie_in_the_consumer_subnets(stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    ec2 = stack["clients"].ec2()
    consumer_cidrs = [
        s["CidrBlock"]
        for s in ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [out["consumer_vpc_id"]]}]
        )["Subnets"]
    ]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=out["endpoint_eni_ids"])[
        "NetworkInterfaces"
    ]
    assert len(enis) == 2
    for eni in enis:
        assert _in_any(eni["PrivateIpAddress"], consumer_cidrs), eni["PrivateIpAddress"]
    assert set(out["endpoint_zonal_dns_names"]) == {"ap-northeast-2a", "ap-northeast-2c"}
    assert out["endpoint_regional_dns_name"].endswith(".ap-northeast-2.vpce.amazonaws.com")


def test_reapply_plans_no_changes(stack: dict[str, Any]) -> None:
    plan = stack["tf"].plan(stack["variables"])
    assert not plan.has_changes, plan.summary()
