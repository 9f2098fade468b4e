"""Target groups and target health as the ELB reports them: thresholds, draining, stopped
instances, and AWS's defaults for NLB (TCP) target groups."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.controlplane.localstack import LocalStackProcess
from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Place:
    vpc: str
    subnet: str
    image: str


@pytest.fixture(scope="module")
def place(ec2: Any, ls_settings: HarnessSettings) -> Place:
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.90.1.0/24", AvailabilityZone=f"{ls_settings.region}a"
    )["Subnet"]["SubnetId"]
    return Place(vpc, subnet, ec2.describe_images()["Images"][0]["ImageId"])


def _target_group(elbv2: Any, place: Place, **kwargs: Any) -> str:
    return str(
        elbv2.create_target_group(
            Name=f"th-{uuid.uuid4().hex[:12]}",
            Protocol="TCP",
            Port=8080,
            VpcId=place.vpc,
            TargetType="instance",
            **kwargs,
        )["TargetGroups"][0]["TargetGroupArn"]
    )


def _instance(ec2: Any, place: Place) -> str:
    return str(
        ec2.run_instances(ImageId=place.image, MinCount=1, MaxCount=1, SubnetId=place.subnet)[
            "Instances"
        ][0]["InstanceId"]
    )


def _report(localstack: LocalStackProcess, arn: str, target: str, **item: Any) -> None:
    body = {"target_group_arn": arn, "targets": [{"id": target, "port": 8080, **item}]}
    request = urllib.request.Request(
        f"{localstack.url}/_jerp/target-health",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"updated": 1}


def _health(elbv2: Any, arn: str, **kwargs: Any) -> list[tuple[str, str, str | None]]:
    return [
        (d["Target"]["Id"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in elbv2.describe_target_health(TargetGroupArn=arn, **kwargs)[
            "TargetHealthDescriptions"
        ]
    ]


def test_th_initial_until_healthy_threshold_consecutive_passes(
    ec2: Any, elbv2: Any, place: Place, localstack: LocalStackProcess
) -> None:
    arn = _target_group(elbv2, place, HealthyThresholdCount=3, UnhealthyThresholdCount=2)
    iid = _instance(ec2, place)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    assert _health(elbv2, arn) == [(iid, "initial", "Elb.RegistrationInProgress")]
    _report(localstack, arn, iid, checks=[True, False, True, True])
    assert _health(elbv2, arn) == [(iid, "initial", "Elb.InitialHealthChecking")]
    _report(localstack, arn, iid, checks=[True])
    assert _health(elbv2, arn) == [(iid, "healthy", None)]


def test_th_healthy_threshold_unhealthy_after_consecutive_failures_and_back(
    ec2: Any, elbv2: Any, place: Place, localstack: LocalStackProcess
) -> None:
    arn = _target_group(elbv2, place, HealthyThresholdCount=2, UnhealthyThresholdCount=3)
    iid = _instance(ec2, place)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    _report(localstack, arn, iid, checks=[True, True, False, False])
    assert _health(elbv2, arn) == [(iid, "healthy", None)]
    _report(localstack, arn, iid, checks=[False], description="Health checks failed (L4CON)")
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]
    assert health["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.FailedHealthChecks",
        "Description": "Health checks failed (L4CON)",
    }
    _report(localstack, arn, iid, checks=[True])
    assert _health(elbv2, arn)[0][1] == "unhealthy"
    _report(localstack, arn, iid, checks=[True])
    assert _health(elbv2, arn) == [(iid, "healthy", None)]


def test_th_draining_for_the_deregistration_delay(
    ec2: Any, elbv2: Any, place: Place, localstack: LocalStackProcess
) -> None:
    arn = _target_group(elbv2, place)
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}],
    )
    iid = _instance(ec2, place)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    _report(localstack, arn, iid, checks=[True] * 5)
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    draining_until = time.monotonic() + 2
    assert _health(elbv2, arn) == [(iid, "draining", "Target.DeregistrationInProgress")]
    assert _health(elbv2, arn, Targets=[{"Id": iid}]) == [
        (iid, "draining", "Target.DeregistrationInProgress")
    ]
    deadline = draining_until + 3
    while _health(elbv2, arn):
        assert time.monotonic() < deadline, "target still listed after its deregistration delay"
        time.sleep(0.2)
    assert time.monotonic() >= draining_until - 0.5
    assert _health(elbv2, arn, Targets=[{"Id": iid}]) == [(iid, "unused", "Target.NotRegistered")]


def test_th_unused_stopped_instance_is_invalid_state(
    ec2: Any, elbv2: Any, place: Place, localstack: LocalStackProcess
) -> None:
    arn = _target_group(elbv2, place)
    iid = _instance(ec2, place)
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    _report(localstack, arn, iid, checks=[True] * 5)
    ec2.stop_instances(InstanceIds=[iid])
    # The data plane sees the stopped instance fail its checks; the ELB still says unused.
    _report(localstack, arn, iid, checks=[False] * 3)
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0]
    assert health["TargetHealth"] == {
        "State": "unused",
        "Reason": "Target.InvalidState",
        "Description": "The target is in the stopped or terminated state",
    }


def test_tg_hc_defaults_tcp(elbv2: Any, place: Place) -> None:
    arn = _target_group(elbv2, place)
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (
        tg["HealthCheckProtocol"],
        tg["HealthCheckPort"],
        tg["HealthCheckIntervalSeconds"],
        tg["HealthCheckTimeoutSeconds"],
        tg["HealthyThresholdCount"],
        tg["UnhealthyThresholdCount"],
    ) == ("TCP", "traffic-port", 30, 10, 5, 2)


def test_tg_hc_defaults_http_on_nlb_target_group(elbv2: Any, place: Place) -> None:
    arn = _target_group(elbv2, place, HealthCheckProtocol="HTTP")
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert tg["HealthCheckPath"] == "/"
    assert tg["HealthCheckTimeoutSeconds"] == 6
    assert tg["Matcher"] == {"HttpCode": "200-399"}
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"]) == (30, 5)


def test_tg_hc_http_interval_between_6_and_9_without_a_timeout_is_accepted(
    elbv2: Any, place: Place
) -> None:
    """The HTTP default timeout (6) is what an interval is compared with, not TCP's 10."""
    arn = _target_group(elbv2, place, HealthCheckProtocol="HTTP", HealthCheckIntervalSeconds=7)
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (7, 6)
    with pytest.raises(ClientError, match="Health check timeout '6' must be smaller"):
        _target_group(elbv2, place, HealthCheckProtocol="HTTP", HealthCheckIntervalSeconds=5)


def test_tg_default_attributes_of_nlb_target_groups(elbv2: Any, place: Place) -> None:
    arn = _target_group(elbv2, place)
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    expected = {
        "deregistration_delay.timeout_seconds": "300",
        "deregistration_delay.connection_termination.enabled": "false",
        "proxy_protocol_v2.enabled": "false",
        "preserve_client_ip.enabled": "true",
        "stickiness.enabled": "false",
        "stickiness.type": "source_ip",
        "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
        "target_health_state.unhealthy.connection_termination.enabled": "true",
        "target_health_state.unhealthy.draining_interval_seconds": "0",
        "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
    }
    assert {k: attributes.get(k) for k in expected} == expected
    assert "slow_start.duration_seconds" not in attributes
    ip_arn = elbv2.create_target_group(
        Name=f"th-ip-{uuid.uuid4().hex[:8]}",
        Protocol="TCP",
        Port=8080,
        VpcId=place.vpc,
        TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    ip_attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=ip_arn)["Attributes"]
    }
    assert ip_attributes["preserve_client_ip.enabled"] == "false"


def test_tg_arn_format(elbv2: Any, place: Place, ls_settings: HarnessSettings) -> None:
    arn = _target_group(elbv2, place)
    name = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["TargetGroupName"]
    assert re.fullmatch(
        rf"arn:aws:elasticloadbalancing:{ls_settings.region}:\d{{12}}:targetgroup/{name}/[0-9a-f]{{16}}",
        arn,
    )


def test_tg_register_stopped_instance_is_invalid_target(ec2: Any, elbv2: Any, place: Place) -> None:
    arn = _target_group(elbv2, place)
    iid = _instance(ec2, place)
    ec2.stop_instances(InstanceIds=[iid])
    with pytest.raises(ClientError) as info:
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])
    assert info.value.response["Error"]["Code"] == "InvalidTarget"
    assert info.value.response["Error"]["Message"] == (
        f"The following targets are not in a running state and cannot be registered: '{iid}'"
    )
