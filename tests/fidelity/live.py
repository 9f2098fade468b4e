"""The live changes of the corpus (``kind == "live"``), by case name: each is made on the
deployed e2e stack through the AWS APIs, the data plane follows, and one named check must fail
with a hint naming the cause; ``undo`` puts the stack back as Terraform left it (rule ids
aside).

A dropped packet costs the greeting check a curl timeout per request (5 s, 6 requests per
name), so the cases that block traffic wait for the data plane with one TCP connect
(``path_open``) and run the check through :class:`OneRequestPerUrl` on the regional name only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.checks.checks import Check, Facts, check_greeting, check_targets_healthy
from harness.checks.probes import ConnectResult, HttpResult, Probe, Resolution
from harness.deploy import Deployment

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from harness.checks.probes import CommandResult

# Security groups by id -> the ingress permissions taken away, to give back on undo.
Taken = dict[str, list[Any]]


class OneRequestPerUrl:
    """A probe that sends each distinct URL of a batch once and repeats its answer."""

    def __init__(self, inner: Probe) -> None:
        self.inner = inner

    @property
    def target(self) -> str:
        return self.inner.target

    def resolve(self, name: str, from_host: str) -> Resolution:
        return self.inner.resolve(name, from_host)

    def http_get(self, host: str, urls: Sequence[str]) -> list[HttpResult]:
        distinct = list(dict.fromkeys(urls))
        answers = dict(zip(distinct, self.inner.http_get(host, distinct), strict=True))
        return [answers[url] for url in urls]

    def tcp_connect(self, host: str, targets: Sequence[tuple[str, int]]) -> list[ConnectResult]:
        return self.inner.tcp_connect(host, targets)

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        return self.inner.run(host, argv, timeout_s)


def regional_only(facts: Facts) -> Facts:
    return replace(facts, zonal_dns_names=())


def endpoint_port_open(probe: Probe, facts: Facts) -> bool:
    """Whether the consumer client connects to the first endpoint ENI's listener port."""
    endpoint = facts.endpoint()
    assert endpoint and endpoint.interfaces, f"{facts.endpoint_id} has no ENIs"
    target = (endpoint.interfaces[0].private_ip, facts.listener_port)
    return all(r.reached for r in probe.tcp_connect(facts.client_instance_id, [target]))


@dataclass(frozen=True)
class LiveChange:
    apply: Callable[[Deployment], Taken]
    undo: Callable[[Deployment, Taken], None]
    checks: Sequence[Check]  # the checks to run while waiting for the named one to fail
    timeout_s: float  # how long the data plane (and health checks) may take, each way
    path_open: Callable[[Probe, Facts], bool] | None = None  # fast: has the change taken effect?
    view: Callable[[Facts], Facts] = lambda facts: facts  # what the checks are run on


def _revoke_ingress(ec2: EC2Client, group_ids: Sequence[str]) -> Taken:
    taken: Taken = {}
    for group in ec2.describe_security_groups(GroupIds=list(group_ids))["SecurityGroups"]:
        permissions = list(group.get("IpPermissions") or [])
        if permissions:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=permissions)
            taken[group["GroupId"]] = permissions
    return taken


def _give_back(deployment: Deployment, taken: Taken) -> None:
    ec2 = deployment.clients.ec2()
    for group_id, permissions in taken.items():
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)


def revoke_endpoint_ingress(deployment: Deployment) -> Taken:
    group = str(deployment.outputs["endpoint_security_group_id"])
    return _revoke_ingress(deployment.clients.ec2(), [group])


def revoke_target_ingress(deployment: Deployment) -> Taken:
    ec2 = deployment.clients.ec2()
    ids = deployment.outputs["provider_instance_ids"]
    assert isinstance(ids, list), ids
    reservations = ec2.describe_instances(InstanceIds=[str(i) for i in ids])["Reservations"]
    groups = {
        g["GroupId"]
        for r in reservations
        for i in r.get("Instances", [])
        for g in i.get("SecurityGroups", [])
    }
    return _revoke_ingress(ec2, sorted(groups))


# Health checks every 10 s, 3 in a row to flip (the kit's target group): ~30 s each way.
HEALTH_FLIP_S = 75.0

CHANGES: dict[str, LiveChange] = {
    "endpoint-security-group-without-ingress": LiveChange(
        revoke_endpoint_ingress,
        _give_back,
        (check_greeting,),
        30.0,
        path_open=endpoint_port_open,
        view=regional_only,
    ),
    "target-security-group-without-ingress": LiveChange(
        revoke_target_ingress, _give_back, (check_targets_healthy,), HEALTH_FLIP_S
    ),
}
