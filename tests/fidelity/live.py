"""The live changes of the corpus (``kind == "live"``), by case name: each is made on the
deployed e2e stack through the AWS APIs, the data plane follows, and one named check must fail
with a hint naming the cause; ``undo`` puts the stack back as Terraform left it (rule ids
aside).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checks.checks import Check, check_greeting, check_targets_healthy
from harness.deploy import Deployment

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Security groups by id -> the ingress permissions taken away, to give back on undo.
Taken = dict[str, list[Any]]


@dataclass(frozen=True)
class LiveChange:
    apply: Callable[[Deployment], Taken]
    undo: Callable[[Deployment, Taken], None]
    checks: Sequence[Check]  # the checks to run while waiting for the named one to fail
    timeout_s: float  # how long the data plane (and health checks) may take, each way


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
        revoke_endpoint_ingress, _give_back, (check_greeting,), 30.0
    ),
    "target-security-group-without-ingress": LiveChange(
        revoke_target_ingress, _give_back, (check_targets_healthy,), HEALTH_FLIP_S
    ),
}
