"""Conformance with the Terraform AWS provider's acceptance tests (issue 9, item 7).

Each configuration in ``conformance/`` (see its README) is applied to the session LocalStack,
checked with the attribute checks the provider's own tests make, re-planned (must be empty),
its main resources imported into a fresh state and compared attribute by attribute (the
provider tests' ImportStateVerify), destroyed, and checked gone through the API (their
CheckDestroy). The three configurations run concurrently: the one NLB costs ~60 s of provider
waits and the others fit inside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.controlplane.localstack import LocalStackProcess
from harness.controlplane.terraform import Plan, Terraform
from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration

CONFORMANCE = Path(__file__).parent / "conformance"
ACCOUNT_A, ACCOUNT_B = "444444444444", "555555555555"
DEFAULT_ACCOUNT = "000000000000"

# Attributes the provider's ImportStateVerify steps ignore, per resource type (from its tests:
# vpc_endpoint_test.go, target_group_test.go): arguments AWS does not report for every kind.
IMPORT_IGNORE: dict[str, set[str]] = {
    "aws_vpc_endpoint": {"auto_accept"},
    "aws_lb_target_group": {
        "connection_termination",
        "lambda_multi_value_headers_enabled",
        "proxy_protocol_v2",
        "slow_start",
    },
}


class ConformanceTerraform(Terraform):
    """The harness's Terraform wrapper plus the two commands conformance needs."""

    def state(self) -> dict[str, dict[str, Any]]:
        """Resource address -> attribute values, from ``terraform show -json``."""
        document = _json(self._run("show", "-json", "-no-color"))
        resources = document.get("values", {}).get("root_module", {}).get("resources", [])
        return {r["address"]: r["values"] for r in resources if r["mode"] == "managed"}

    def import_resource(self, address: str, resource_id: str) -> None:
        self._run("import", "-input=false", "-no-color", address, resource_id)

    def refresh(self) -> None:
        """Read every resource back into the state (what the provider tests compare with)."""
        self._run("apply", "-refresh-only", "-input=false", "-no-color", "-auto-approve")


def _json(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


@dataclass
class Outcome:
    """What happened to one configuration; ``error`` is the first step that failed."""

    name: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    replan: Plan | None = None
    imported: dict[str, dict[str, Any]] = field(default_factory=dict)
    destroyed: bool = False
    gone: dict[str, bool] = field(default_factory=dict)
    error: BaseException | None = None
    destroy_error: BaseException | None = None

    def require(self) -> None:
        if self.error is not None:
            raise AssertionError(f"conformance config {self.name!r} failed") from self.error


@dataclass(frozen=True)
class Config:
    name: str
    gone: Callable[[dict[str, dict[str, Any]], Any], dict[str, bool]]
    variables: dict[str, str] = field(default_factory=dict)


def _client(url: str, region: str, service: str, account: str = "test") -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="test",
    )


def _absent(call: Callable[[], Any], codes: set[str]) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in codes
    return False


def _privatelink_gone(values: dict[str, dict[str, Any]], clients: Any) -> dict[str, bool]:
    ec2, elbv2 = clients("ec2", ACCOUNT_A), clients("elbv2", ACCOUNT_A)
    gone = {
        "aws_lb.test": _absent(
            lambda: elbv2.describe_load_balancers(LoadBalancerArns=[values["aws_lb.test"]["arn"]]),
            {"LoadBalancerNotFound"},
        )
    }
    for name in ("basic", "permitted", "accept_on_create", "cross_account"):
        address = f"aws_vpc_endpoint_service.{name}"
        gone[address] = _absent(
            lambda a=address: ec2.describe_vpc_endpoint_service_configurations(
                ServiceIds=[values[a]["id"]]
            ),
            {"InvalidVpcEndpointServiceId.NotFound"},
        )
    gone["aws_vpc_endpoint.cross_account"] = _endpoint_deleted(
        clients("ec2", ACCOUNT_B), values["aws_vpc_endpoint.cross_account"]["id"]
    )
    return gone


def _target_group_gone(values: dict[str, dict[str, Any]], clients: Any) -> dict[str, bool]:
    elbv2 = clients("elbv2", "test")
    return {
        "aws_lb_target_group.test": _absent(
            lambda: elbv2.describe_target_groups(
                TargetGroupArns=[values["aws_lb_target_group.test"]["arn"]]
            ),
            {"TargetGroupNotFound"},
        )
    }


def _endpoint_deleted(ec2: Any, endpoint_id: str) -> bool:
    """Gone, or still listed as ``deleted`` (as AWS lists it for a while)."""
    try:
        found = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except ClientError as exc:
        return bool(exc.response["Error"]["Code"] == "InvalidVpcEndpointId.NotFound")
    return all(e["State"] == "deleted" for e in found)


def _endpoint_gone(values: dict[str, dict[str, Any]], clients: Any) -> dict[str, bool]:
    endpoint_id = values["aws_vpc_endpoint.test"]["id"]
    return {"aws_vpc_endpoint.test": _endpoint_deleted(clients("ec2", "test"), endpoint_id)}


IMPORTED = [
    ("privatelink", "aws_lb.test"),
    ("privatelink", "aws_vpc_endpoint_service.basic"),
    ("privatelink", "aws_vpc_endpoint.accept_on_create"),
    ("privatelink", "aws_vpc_endpoint.cross_account"),
    ("privatelink", "aws_vpc_endpoint_connection_accepter.test"),
    ("target_group_tcp", "aws_lb_target_group.test"),
    ("vpc_endpoint_aws_service", "aws_vpc_endpoint.test"),
]


def _ids(values: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    """Import id of each resource IMPORTED checks for config ``name`` (its ``id``)."""
    return {address: values[address]["id"] for n, address in IMPORTED if n == name}


CONFIGS = (
    Config(
        "privatelink",
        gone=_privatelink_gone,
        variables={"account_a": ACCOUNT_A, "account_b": ACCOUNT_B},
    ),
    Config(
        "target_group_tcp",
        gone=_target_group_gone,
    ),
    Config(
        "vpc_endpoint_aws_service",
        gone=_endpoint_gone,
    ),
)


def _terraform(config: Config, workdir: Path, env: dict[str, str]) -> ConformanceTerraform:
    workdir.mkdir(parents=True)
    shutil.copy(CONFORMANCE / config.name / "main.tf", workdir / "main.tf")
    scratch = workdir.parent / f"{workdir.name}-state"
    scratch.mkdir()
    tf = ConformanceTerraform(
        workdir,
        env={**env, "TF_DATA_DIR": str(workdir / ".terraform")},
        state_path=scratch / "terraform.tfstate",
    )
    tf.init()
    return tf


def _run(config: Config, tmp: Path, env: dict[str, str], clients: Any) -> Outcome:
    outcome = Outcome(config.name)
    env = {**env, **{f"TF_VAR_{k}": v for k, v in config.variables.items()}}
    applied = None
    try:
        tf = _terraform(config, tmp / "apply", env)
        applied = tf
        tf.apply({})
        outcome.replan = tf.plan({})
        tf.refresh()
        outcome.values = tf.state()
        fresh = _terraform(config, tmp / "import", env)
        for address, resource_id in _ids(outcome.values, config.name).items():
            fresh.import_resource(address, resource_id)
        outcome.imported = fresh.state()
    except BaseException as exc:  # recorded; the test that needs the step re-raises it
        outcome.error = exc
    finally:
        if applied is not None:
            try:
                applied.destroy({})
                outcome.destroyed = True
                if outcome.values:
                    outcome.gone = config.gone(outcome.values, clients)
            except BaseException as exc:  # the destroy test re-raises it
                outcome.destroy_error = exc
    return outcome


@pytest.fixture(scope="module")
def prefix() -> str:
    """Names of this run (LocalStack is shared by the session: no collisions)."""
    return f"conf{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def outcomes(
    localstack: LocalStackProcess,
    ls_settings: HarnessSettings,
    tmp_path_factory: pytest.TempPathFactory,
    prefix: str,
) -> Iterator[dict[str, Outcome]]:
    env = {
        **os.environ,
        "TF_VAR_localstack_endpoint": localstack.url,
        "TF_VAR_region": ls_settings.region,
        "TF_VAR_name": prefix,
    }

    def clients(service: str, account: str) -> Any:
        return _client(localstack.url, ls_settings.region, service, account)

    tmp = tmp_path_factory.mktemp("conformance")
    # In parallel: most of each apply is the provider's waiters (aws_lb waits 60 s).
    with ThreadPoolExecutor(max_workers=len(CONFIGS)) as pool:
        futures = {c.name: pool.submit(_run, c, tmp / c.name, env, clients) for c in CONFIGS}
        yield {name: future.result() for name, future in futures.items()}


# --------------------------------------------------------------------------- shared checks


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Terraform's flatmap view: like ImportStateVerify, null and empty containers leave no
    key, so an absent list equals an empty one."""
    if value is None or value == [] or value == {}:
        return {}
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat
    if isinstance(value, list):
        flat = {f"{prefix}.#": len(value)}
        for index, item in enumerate(sorted(value, key=repr) if _is_set(value) else value):
            flat.update(_flatten(item, f"{prefix}.{index}"))
        return flat
    return {prefix: value}


def _is_set(value: list[Any]) -> bool:
    return all(isinstance(v, str) for v in value)


def _import_differences(outcome: Outcome, address: str) -> dict[str, tuple[Any, Any]]:
    ignore = IMPORT_IGNORE.get(address.split(".")[0], set())
    applied = {
        k: v for k, v in _flatten(outcome.values[address]).items() if k.split(".")[0] not in ignore
    }
    imported = {
        k: v
        for k, v in _flatten(outcome.imported[address]).items()
        if k.split(".")[0] not in ignore
    }
    return {
        key: (applied.get(key), imported.get(key))
        for key in sorted(set(applied) | set(imported))
        if applied.get(key) != imported.get(key)
    }


@pytest.mark.parametrize("name", [c.name for c in CONFIGS])
def test_conformance_replans_empty(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    outcome.require()
    assert outcome.replan is not None
    assert not outcome.replan.has_changes, outcome.replan.summary()


@pytest.mark.parametrize(("name", "address"), IMPORTED)
def test_conformance_import_verifies(outcomes: dict[str, Outcome], name: str, address: str) -> None:
    outcome = outcomes[name]
    outcome.require()
    assert address in outcome.imported, f"{address} was not imported"
    assert _import_differences(outcome, address) == {}


@pytest.mark.parametrize("name", [c.name for c in CONFIGS])
def test_conformance_destroys_and_resources_are_gone(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    outcome.require()
    if outcome.destroy_error is not None:
        raise AssertionError(f"destroying {name!r} failed") from outcome.destroy_error
    assert outcome.destroyed
    assert outcome.gone and all(outcome.gone.values()), outcome.gone


# --------------------------------------------------------------------------- attribute checks


def test_conformance_vpc_endpoint_service_basic_attributes(
    outcomes: dict[str, Outcome], ls_settings: HarnessSettings
) -> None:
    outcome = outcomes["privatelink"]
    outcome.require()
    service = outcome.values["aws_vpc_endpoint_service.basic"]
    assert service["acceptance_required"] is False
    assert service["allowed_principals"] == []
    assert re.fullmatch(
        rf"arn:aws:ec2:{ls_settings.region}:{ACCOUNT_A}:vpc-endpoint-service/vpce-svc-.+",
        service["arn"],
    )
    assert len(service["availability_zones"]) > 0
    assert len(service["base_endpoint_dns_names"]) > 0
    assert service["gateway_load_balancer_arns"] == []
    assert service["manages_vpc_endpoints"] is False
    assert service["network_load_balancer_arns"] == [outcome.values["aws_lb.test"]["arn"]]
    assert service["private_dns_name"] == ""
    assert service["private_dns_name_configuration"] == []
    assert service["service_name"]
    assert service["service_type"] == "Interface"
    assert service["supported_ip_address_types"] == ["ipv4"]
    assert not service["tags"]


def test_conformance_vpc_endpoint_service_allowed_principal_basic(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["privatelink"]
    outcome.require()
    principal = outcome.values["aws_vpc_endpoint_service_allowed_principal.test"]
    assert re.fullmatch(r"vpce-svc-perm-\w{17}", principal["id"])
    assert (
        principal["vpc_endpoint_service_id"]
        == outcome.values["aws_vpc_endpoint_service.permitted"]["id"]
    )
    assert principal["principal_arn"] == f"arn:aws:iam::{ACCOUNT_B}:root"


def test_conformance_vpc_endpoint_interface_non_aws_service_accept_on_create(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["privatelink"]
    outcome.require()
    assert outcome.values["aws_vpc_endpoint.accept_on_create"]["state"] == "available"


def test_conformance_vpc_endpoint_connection_accepter_cross_account(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["privatelink"]
    outcome.require()
    accepter = outcome.values["aws_vpc_endpoint_connection_accepter.test"]
    endpoint = outcome.values["aws_vpc_endpoint.cross_account"]
    assert accepter["vpc_endpoint_state"] == "available"
    assert accepter["id"] == f"{accepter['vpc_endpoint_service_id']}_{endpoint['id']}"
    assert endpoint["owner_id"] == ACCOUNT_B
    assert len(endpoint["subnet_ids"]) == 2


def test_conformance_lb_network_basic_attributes(
    outcomes: dict[str, Outcome], ls_settings: HarnessSettings, prefix: str
) -> None:
    outcome = outcomes["privatelink"]
    outcome.require()
    lb = outcome.values["aws_lb.test"]
    name = prefix
    assert len(lb["access_logs"]) == 1 and lb["access_logs"][0]["enabled"] is False
    assert re.search(rf"loadbalancer/net/{name}/.+$", lb["arn"])
    assert lb["connection_logs"] == []
    assert re.fullmatch(
        rf"{name}-[0-9a-f]{{16}}\.elb\.{ls_settings.region}\.amazonaws\.com", lb["dns_name"]
    )
    assert lb["dns_record_client_routing_policy"] == "any_availability_zone"
    assert lb["enable_deletion_protection"] is False
    assert lb["internal"] is True
    assert lb["ip_address_type"] == "ipv4"
    assert lb["load_balancer_type"] == "network"
    assert lb["name"] == name
    assert lb["name_prefix"] == ""
    assert len(lb["subnet_mapping"]) == 2
    assert len(lb["subnets"]) == 2
    assert lb["tags"] == {"Name": name}
    assert lb["zone_id"]


def test_conformance_lb_target_group_tcp_health_check_and_defaults(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["target_group_tcp"]
    outcome.require()
    tg = outcome.values["aws_lb_target_group.test"]
    assert (tg["port"], tg["protocol"], tg["deregistration_delay"]) == (8082, "TCP", "200")
    check = tg["health_check"][0]
    assert {k: check[k] for k in ("enabled", "interval", "port", "protocol", "timeout")} == {
        "enabled": True,
        "interval": 10,
        "port": "traffic-port",
        "protocol": "TCP",
        "timeout": 10,
    }
    assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (3, 3)
    assert tg["proxy_protocol_v2"] is False
    assert tg["connection_termination"] is False
    assert tg["preserve_client_ip"] == "true"
    assert tg["stickiness"][0]["enabled"] is False
    assert tg["stickiness"][0]["type"] == "source_ip"
    assert tg["tags"] == {"Name": tg["name"]}


def test_conformance_lb_target_group_attachment_port(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["target_group_tcp"]
    outcome.require()
    attachment = outcome.values["aws_lb_target_group_attachment.test"]
    assert attachment["port"] == 80
    assert attachment["target_id"] == outcome.values["aws_instance.test"]["id"]
    assert attachment["target_group_arn"] == outcome.values["aws_lb_target_group.test"]["arn"]


def test_conformance_vpc_endpoint_interface_basic_attributes(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["vpc_endpoint_aws_service"]
    outcome.require()
    endpoint = outcome.values["aws_vpc_endpoint.test"]
    assert re.search(r"vpc-endpoint/vpce-.+$", endpoint["arn"])
    assert endpoint["cidr_blocks"] == []
    assert endpoint["dns_entry"] == []
    assert len(endpoint["dns_options"]) == 1
    assert endpoint["dns_options"][0]["dns_record_ip_type"] == "ipv4"
    assert endpoint["dns_options"][0]["private_dns_only_for_inbound_resolver_endpoint"] is False
    assert endpoint["ip_address_type"] == "ipv4"
    assert endpoint["network_interface_ids"] == []
    assert endpoint["owner_id"] == DEFAULT_ACCOUNT
    assert endpoint["policy"]
    assert not endpoint["prefix_list_id"]
    assert endpoint["private_dns_enabled"] is False
    assert endpoint["requester_managed"] is False
    assert endpoint["resource_configuration_arn"] == ""
    assert endpoint["route_table_ids"] == []
    assert len(endpoint["security_group_ids"]) == 1  # the VPC's default security group
    assert endpoint["service_network_arn"] == ""
    assert endpoint["subnet_ids"] == []
    assert not endpoint["tags"]
    assert endpoint["vpc_endpoint_type"] == "Interface"
