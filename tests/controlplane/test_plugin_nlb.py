"""Network Load Balancer control-plane rules: subnets per AZ, security groups and the
PrivateLink enforcement setting, deletion protection, attributes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration

ENFORCE = "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"


@dataclass(frozen=True)
class Vpc:
    vpc: str
    subnet_a: str
    subnet_a2: str
    subnet_c: str
    groups: tuple[str, str]


@pytest.fixture(scope="module")
def vpc(ec2: Any, ls_settings: HarnessSettings) -> Vpc:
    region = ls_settings.region
    vpc_id = ec2.create_vpc(CidrBlock="10.100.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr: str, az: str) -> str:
        return str(
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{region}{az}")[
                "Subnet"
            ]["SubnetId"]
        )

    groups = tuple(
        ec2.create_security_group(
            GroupName=f"nlb-{uuid.uuid4().hex[:8]}", Description="nlb", VpcId=vpc_id
        )["GroupId"]
        for _ in range(2)
    )
    return Vpc(
        vpc_id,
        subnet("10.100.1.0/24", "a"),
        subnet("10.100.11.0/24", "a"),
        subnet("10.100.3.0/24", "c"),
        (groups[0], groups[1]),
    )


def _nlb(elbv2: Any, subnets: list[str], **kwargs: Any) -> dict[str, Any]:
    return dict(
        elbv2.create_load_balancer(
            Name=f"nlb-{uuid.uuid4().hex[:8]}",
            Subnets=subnets,
            Scheme="internal",
            Type="network",
            **kwargs,
        )["LoadBalancers"][0]
    )


def _describe(elbv2: Any, arn: str) -> dict[str, Any]:
    return dict(elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0])


def test_nlb_one_subnet_per_az(elbv2: Any, vpc: Vpc) -> None:
    with pytest.raises(ClientError) as info:
        _nlb(elbv2, [vpc.subnet_a, vpc.subnet_a2])
    assert info.value.response["Error"]["Code"] == "InvalidConfigurationRequest"
    assert info.value.response["Error"]["Message"] == (
        "A load balancer cannot be attached to multiple subnets in the same Availability Zone"
    )


def test_nlb_enforce_privatelink_attr_set_stored_and_described(elbv2: Any, vpc: Vpc) -> None:
    arn = _nlb(elbv2, [vpc.subnet_a, vpc.subnet_c], SecurityGroups=[vpc.groups[0]])[
        "LoadBalancerArn"
    ]
    # Reported only once SetSecurityGroups has set it.
    assert ENFORCE not in _describe(elbv2, arn)
    answer = elbv2.set_security_groups(
        LoadBalancerArn=arn, SecurityGroups=[vpc.groups[0]], **{ENFORCE: "off"}
    )
    assert answer[ENFORCE] == "off"
    assert _describe(elbv2, arn)[ENFORCE] == "off"
    # Leaving it out keeps the last value.
    answer = elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=list(vpc.groups))
    assert answer[ENFORCE] == "off"
    described = _describe(elbv2, arn)
    assert (sorted(described["SecurityGroups"]), described[ENFORCE]) == (sorted(vpc.groups), "off")
    elbv2.set_security_groups(
        LoadBalancerArn=arn, SecurityGroups=list(vpc.groups), **{ENFORCE: "on"}
    )
    assert _describe(elbv2, arn)[ENFORCE] == "on"


def test_nlb_sg_only_at_create(elbv2: Any, vpc: Vpc) -> None:
    arn = _nlb(elbv2, [vpc.subnet_a])["LoadBalancerArn"]
    with pytest.raises(ClientError) as info:
        elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[vpc.groups[0]])
    assert info.value.response["Error"]["Code"] == "InvalidConfigurationRequest"
    assert info.value.response["Error"]["Message"] == (
        "You cannot set security groups on a Network Load Balancer which was created without "
        "any security groups."
    )
    assert not _describe(elbv2, arn).get("SecurityGroups")


def test_nlb_deletion_protection_blocks_delete_until_off(elbv2: Any, vpc: Vpc) -> None:
    arn = _nlb(elbv2, [vpc.subnet_c])["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    with pytest.raises(ClientError) as info:
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert info.value.response["Error"]["Code"] == "OperationNotPermitted"
    assert info.value.response["Error"]["Message"] == (
        f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
    )
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    with pytest.raises(ClientError) as gone:
        _describe(elbv2, arn)
    assert gone.value.response["Error"]["Code"] == "LoadBalancerNotFound"


def test_nlb_attribute_not_recognized_in_aws_words(elbv2: Any, vpc: Vpc) -> None:
    arn = _nlb(elbv2, [vpc.subnet_a])["LoadBalancerArn"]
    with pytest.raises(ClientError) as info:
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=arn, Attributes=[{"Key": "no.such.key", "Value": "1"}]
        )
    assert info.value.response["Error"]["Code"] == "ValidationError"
    assert info.value.response["Error"]["Message"] == (
        "Load balancer attribute key 'no.such.key' is not recognized"
    )


def test_nlb_default_attributes(elbv2: Any, vpc: Vpc) -> None:
    arn = _nlb(elbv2, [vpc.subnet_a])["LoadBalancerArn"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    expected = {
        "load_balancing.cross_zone.enabled": "false",
        "dns_record.client_routing_policy": "any_availability_zone",
        "deletion_protection.enabled": "false",
        "access_logs.s3.enabled": "false",
    }
    assert {k: attributes.get(k) for k in expected} == expected


def test_nlb_internal_private_addresses_follow_the_subnet_mapping(
    ec2: Any, elbv2: Any, vpc: Vpc
) -> None:
    lb = elbv2.create_load_balancer(
        Name=f"nlb-{uuid.uuid4().hex[:8]}",
        SubnetMappings=[
            {"SubnetId": vpc.subnet_a, "PrivateIPv4Address": "10.100.1.100"},
            {"SubnetId": vpc.subnet_c},
        ],
        Scheme="internal",
        Type="network",
    )["LoadBalancers"][0]
    description = "ELB " + lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    nodes = {
        eni["SubnetId"]: eni["PrivateIpAddress"]
        for eni in ec2.describe_network_interfaces(
            Filters=[{"Name": "description", "Values": [description]}]
        )["NetworkInterfaces"]
    }
    assert nodes[vpc.subnet_a] == "10.100.1.100"
    assert nodes[vpc.subnet_c].startswith("10.100.3.")


def test_nlb_duplicate_name_lookup_answers_not_found_for_a_free_name(elbv2: Any, vpc: Vpc) -> None:
    name = f"nlb-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as info:
        elbv2.describe_load_balancers(Names=[name])
    assert info.value.response["Error"]["Code"] == "LoadBalancerNotFound"
    arn = elbv2.create_load_balancer(
        Name=name, Subnets=[vpc.subnet_a], Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert [lb["LoadBalancerArn"] for lb in found] == [arn]


def test_nlb_subnet_change_adding_a_subnet_adds_a_node(ec2: Any, elbv2: Any, vpc: Vpc) -> None:
    lb = _nlb(elbv2, [vpc.subnet_a])
    description = "ELB " + lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]

    def node_subnets() -> list[str]:
        return sorted(
            eni["SubnetId"]
            for eni in ec2.describe_network_interfaces(
                Filters=[{"Name": "description", "Values": [description]}]
            )["NetworkInterfaces"]
        )

    assert node_subnets() == [vpc.subnet_a]
    elbv2.set_subnets(LoadBalancerArn=lb["LoadBalancerArn"], Subnets=[vpc.subnet_a, vpc.subnet_c])
    assert node_subnets() == sorted([vpc.subnet_a, vpc.subnet_c])


def test_tg_delete_in_use_by_a_listener_is_resource_in_use(elbv2: Any, vpc: Vpc) -> None:
    lb = _nlb(elbv2, [vpc.subnet_a])
    tg = elbv2.create_target_group(
        Name=f"tg-{uuid.uuid4().hex[:8]}", Protocol="TCP", Port=8080, VpcId=vpc.vpc
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    with pytest.raises(ClientError) as info:
        elbv2.delete_target_group(TargetGroupArn=tg)
    assert info.value.response["Error"]["Code"] == "ResourceInUse"
    assert info.value.response["Error"]["Message"] == (
        f"Target group '{tg}' is currently in use by a listener or a rule"
    )
