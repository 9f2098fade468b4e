"""The deploy cases of the corpus (``kind == "deploy"``), by case name: what each adds to its
Terraform variable set (a control-plane action such as stopping an instance, an extra
observation) and which checks it is judged by.

Every case is applied to one corpus stack deployed from :data:`BASE_VARIABLES`: an NLB security
group that admits the consumer VPC (so the enforcement cases change only its rules and the
setting, both in place: AWS gives an NLB security groups only at creation) and quick health
checks (every 5 s, 2 to flip, no draining) so that targets turn healthy or unhealthy in about
10 s. A case's variables are applied on top of the base, and the base is applied again after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.checks.checks import (
    ALL_CHECKS,
    Check,
    Facts,
    check_greeting,
    check_targets_healthy,
)
from harness.checks.probes import Probe
from harness.deploy import Deployment

BASE_VARIABLES: dict[str, object] = {
    "nlb_security_group_ingress_cidrs": ["10.20.0.0/16"],
    "health_check": {
        "interval": 5,
        "timeout": 4,  # at most the interval (AWS's default 6 s would be refused)
        "healthy_threshold": 2,
        "unhealthy_threshold": 2,
    },
    "deregistration_delay": 0,
}

# Health checks every 5 s, 2 in a row to flip; instances replaced by a new user_data also boot
# JERP and register first.
SETTLE_S = 120.0

STOPPED_AZ = "ap-northeast-2c"


def _instance_in(deployment: Deployment, az: str) -> str:
    ec2 = deployment.clients.ec2()
    ids = deployment.outputs["provider_instance_ids"]
    assert isinstance(ids, list), ids
    for reservation in ec2.describe_instances(InstanceIds=[str(i) for i in ids])["Reservations"]:
        for instance in reservation.get("Instances", []):
            if instance.get("Placement", {}).get("AvailabilityZone") == az:
                return str(instance["InstanceId"])
    raise AssertionError(f"no JERP instance in {az} among {ids}")


def stop_the_instance_in_2c(deployment: Deployment) -> Callable[[], None]:
    """Stop the JERP instance in 2c (its target turns unused); returns the undo."""
    ec2 = deployment.clients.ec2()
    instance = _instance_in(deployment, STOPPED_AZ)
    ec2.stop_instances(InstanceIds=[instance])

    def start_it_again() -> None:
        ec2.start_instances(InstanceIds=[instance])

    return start_it_again


def vpce_id_reported(probe: Probe, facts: Facts) -> str:
    """The X-Vpce-Id JERP answers over the regional name (JERP_PROXY_PROTOCOL=v2 reads it
    from the PROXY v2 header's AWS TLV); "" when none."""
    url = f"http://{facts.regional_dns_name}/user/yundream"
    if facts.listener_port != 80:
        url = f"http://{facts.regional_dns_name}:{facts.listener_port}/user/yundream"
    result = probe.run(
        facts.client_instance_id, ["curl", "-sS", "-m", "5", "-o", "/dev/null", "-D", "-", url], 15
    )
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "x-vpce-id":
            return value.strip()
    return ""


@dataclass(frozen=True)
class DeployChange:
    checks: Sequence[Check] = ALL_CHECKS  # what the case is judged by
    # A control-plane action after the apply; returns its undo.
    action: Callable[[Deployment], Callable[[], None]] | None = None
    reports_vpce_id: bool = False  # JERP must answer X-Vpce-Id with the endpoint id


CHANGES: dict[str, DeployChange] = {
    "deploy-nlb-security-group-drops-a-consumer-it-does-not-admit": DeployChange((check_greeting,)),
    "deploy-enforcement-off-lets-privatelink-traffic-pass-the-nlb-security-group": DeployChange(),
    "deploy-proxy-protocol-v2-read-by-jerp-names-the-endpoint": DeployChange(reports_vpce_id=True),
    "deploy-proxy-protocol-v2-to-an-application-not-reading-it": DeployChange(
        (check_targets_healthy,)
    ),
    "deploy-target-group-cross-zone-off-an-az-without-a-healthy-target-serves-nothing": (
        DeployChange((check_greeting,), action=stop_the_instance_in_2c)
    ),
    "deploy-target-group-cross-zone-on-serves-every-az-from-one": DeployChange(
        (check_greeting,), action=stop_the_instance_in_2c
    ),
}
