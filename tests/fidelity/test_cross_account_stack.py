"""STACK=local-cross-account: the harness speaks for both accounts, and the data plane's
inventory reads both (the service side in A, the endpoint in B)."""

from __future__ import annotations

import re

import pytest

from harness.controlplane.aws import CROSS_ACCOUNT_IDS, AwsClients
from harness.controlplane.localstack import LocalStackProcess
from harness.deploy import _terraform, _tf_vars
from harness.settings import load_settings
from tests.fidelity import control


def _stack_default(variable: str) -> str:
    providers = load_settings(STACK="local-cross-account").stack_dir / "providers.tf"
    text = providers.read_text()
    found = re.search(rf'variable "{variable}" {{.*?default\s*=\s*"(\d+)"', text, re.DOTALL)
    assert found, f"{providers} declares no default for {variable}"
    return found.group(1)


def test_the_stack_and_the_harness_agree_on_the_two_accounts() -> None:
    settings = load_settings(STACK="local-cross-account", LOCALSTACK_ENDPOINT=None)
    assert settings.local_cloud and settings.stack_dir.name == "local-cross-account"
    variables = _tf_vars(settings, settings.state_dir / "wheelhouse")
    assert (variables["service_account_id"], variables["consumer_account_id"]) == CROSS_ACCOUNT_IDS
    # LocalStack's URL reaches the provider through the environment, not an `endpoints` block.
    assert variables["localstack_endpoint"] is None
    assert _terraform(settings).env["AWS_ENDPOINT_URL"] == settings.localstack_url
    # Without the harness (plain terraform apply) the stack's defaults are the same accounts.
    defaults = tuple(_stack_default(v) for v in ("service_account_id", "consumer_account_id"))
    assert defaults == CROSS_ACCOUNT_IDS


def test_clients_cover_the_service_account_first_then_the_consumer() -> None:
    clients = AwsClients.from_settings(load_settings(STACK="local-cross-account"))
    assert [c.access_key for c in clients.accounts()] == list(CROSS_ACCOUNT_IDS)
    single = AwsClients.from_settings(load_settings(STACK="local"))
    assert [c.access_key for c in single.accounts()] == ["test"]


@pytest.mark.integration
def test_inventory_reads_the_service_in_a_and_the_endpoint_in_b(
    fresh: control.World, localstack: LocalStackProcess
) -> None:
    from harness.dataplane.inventory import read_topology

    endpoint_id = fresh.endpoint(fresh.b_ec2, fresh.b_vpc, [fresh.b_subnets["a"]])
    both = AwsClients(
        fresh.region, localstack.url, control.PROVIDER, other_accounts=(control.CONSUMER,)
    )
    topology = read_topology(both)
    assert fresh.service_id in {s.service_id for s in topology.endpoint_services}
    assert fresh.nlb_arn in {lb.arn for lb in topology.load_balancers}
    endpoint = next(e for e in topology.endpoints if e.endpoint_id == endpoint_id)
    assert endpoint.service_name == fresh.service_name and endpoint.vpc_id == fresh.b_vpc
    # Each account alone sees only its side.
    only_a = read_topology(AwsClients(fresh.region, localstack.url, control.PROVIDER))
    assert endpoint_id not in {e.endpoint_id for e in only_a.endpoints}
