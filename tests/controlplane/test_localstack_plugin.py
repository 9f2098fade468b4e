"""The PrivateLink control plane the plug-in adds to LocalStack, driven through boto3 only."""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.controlplane.localstack import LocalStackProcess
from harness.processes import wait_for

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
HEX17 = "[0-9a-f]{17}"


@dataclass
class Wiring:
    provider_subnets: dict[str, str]
    consumer_subnets: dict[str, str]
    other_az_subnet: str
    lb: dict[str, Any]
    service: dict[str, Any]
    consumer_vpc: str


def _subnet(ec2: Any, vpc: str, cidr: str, az: str) -> str:
    return str(
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{az}")["Subnet"][
            "SubnetId"
        ]
    )


@pytest.fixture(scope="module")
def wiring(ec2: Any, elbv2: Any) -> Wiring:
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    provider = {
        "a": _subnet(ec2, vpc, "10.10.1.0/24", "a"),
        "c": _subnet(ec2, vpc, "10.10.3.0/24", "c"),
    }
    lb = elbv2.create_load_balancer(
        Name="plugin-nlb", Subnets=list(provider.values()), Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    service = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]], AcceptanceRequired=True
    )["ServiceConfiguration"]
    cvpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    consumer = {
        "a": _subnet(ec2, cvpc, "10.20.1.0/24", "a"),
        "c": _subnet(ec2, cvpc, "10.20.3.0/24", "c"),
    }
    other = _subnet(ec2, cvpc, "10.20.2.0/24", "b")
    return Wiring(provider, consumer, other, lb, service, cvpc)


def _endpoint(ec2: Any, w: Wiring) -> dict[str, Any]:
    return dict(
        ec2.create_vpc_endpoint(
            VpcId=w.consumer_vpc,
            ServiceName=w.service["ServiceName"],
            VpcEndpointType="Interface",
            SubnetIds=list(w.consumer_subnets.values()),
        )["VpcEndpoint"]
    )


def _state(ec2: Any, endpoint_id: str) -> str:
    return str(ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"])


def test_nlb_is_network_shaped_and_active_at_once(elbv2: Any, wiring: Wiring) -> None:
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[wiring.lb["LoadBalancerArn"]])[
        "LoadBalancers"
    ][0]
    assert re.search(r":loadbalancer/net/plugin-nlb/[0-9a-f]{16}$", lb["LoadBalancerArn"])
    assert re.fullmatch(rf"plugin-nlb-[0-9a-f]{{16}}\.elb\.{REGION}\.amazonaws\.com", lb["DNSName"])
    assert lb["Type"] == "network"
    assert lb["Scheme"] == "internal"
    assert lb["State"]["Code"] == "active"


def test_nlb_has_one_node_eni_per_subnet_inside_it(ec2: Any, wiring: Wiring) -> None:
    lb_id = wiring.lb["LoadBalancerArn"].rsplit("/", 1)[1]
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"ELB net/plugin-nlb/{lb_id}"]}]
    )["NetworkInterfaces"]
    cidrs = {
        s["SubnetId"]: s["CidrBlock"]
        for s in ec2.describe_subnets(SubnetIds=list(wiring.provider_subnets.values()))["Subnets"]
    }
    assert sorted(e["SubnetId"] for e in enis) == sorted(cidrs)
    for eni in enis:
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(
            cidrs[eni["SubnetId"]]
        )


def test_service_id_name_and_zones_are_aws_shaped(wiring: Wiring) -> None:
    service = wiring.service
    assert re.fullmatch(f"vpce-svc-{HEX17}", service["ServiceId"])
    assert service["ServiceName"] == f"com.amazonaws.vpce.{REGION}.{service['ServiceId']}"
    assert service["AvailabilityZones"] == [f"{REGION}a", f"{REGION}c"]


def test_allowed_principals_are_kept(ec2: Any, wiring: Wiring) -> None:
    principal = "arn:aws:iam::000000000000:root"
    sid = wiring.service["ServiceId"]
    added = ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[principal]
    )["AddedPrincipals"]
    assert added[0]["Principal"] == principal
    assert added[0]["ServicePermissionId"].startswith("vpce-svc-perm-")
    allowed = ec2.describe_vpc_endpoint_service_permissions(ServiceId=sid)["AllowedPrincipals"]
    assert [(a["Principal"], a["ServicePermissionId"]) for a in allowed] == [
        (principal, added[0]["ServicePermissionId"])
    ]


def test_endpoint_waits_for_acceptance_then_becomes_available(ec2: Any, wiring: Wiring) -> None:
    endpoint = _endpoint(ec2, wiring)
    eid = endpoint["VpcEndpointId"]
    assert re.fullmatch(f"vpce-{HEX17}", eid)
    assert endpoint["State"] == "pendingAcceptance"
    connections = ec2.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [wiring.service["ServiceId"]]}]
    )["VpcEndpointConnections"]
    assert [(c["VpcEndpointId"], c["VpcEndpointState"]) for c in connections] == [
        (eid, "pendingAcceptance")
    ]
    result = ec2.accept_vpc_endpoint_connections(
        ServiceId=wiring.service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert result["Unsuccessful"] == []
    wait_for(f"{eid} to become available", lambda: _state(ec2, eid) == "available", 15)


def test_endpoint_dns_names_and_enis_follow_aws(ec2: Any, wiring: Wiring) -> None:
    endpoint = _endpoint(ec2, wiring)
    eid, sid = endpoint["VpcEndpointId"], wiring.service["ServiceId"]
    names = [d["DnsName"] for d in endpoint["DnsEntries"]]
    base = rf"{sid}\.{REGION}\.vpce\.amazonaws\.com"
    assert re.fullmatch(rf"{eid}-[0-9a-z]{{8}}\.{base}", names[0])
    assert sorted(re.sub(r".*-([a-z]{2}-[a-z]+-\d[a-z])\..*", r"\1", n) for n in names[1:]) == [
        f"{REGION}a",
        f"{REGION}c",
    ]
    assert not any("localstack" in n for n in names)
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    subnets = {
        s["SubnetId"]: s["CidrBlock"]
        for s in ec2.describe_subnets(SubnetIds=list(wiring.consumer_subnets.values()))["Subnets"]
    }
    addresses = [e["PrivateIpAddress"] for e in enis]
    assert len(set(addresses)) == len(addresses) == 2
    for eni in enis:
        assert eni["Description"] == f"VPC Endpoint Interface {eid}"
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(
            subnets[eni["SubnetId"]]
        )


def test_reject_turns_endpoint_rejected(ec2: Any, wiring: Wiring) -> None:
    eid = _endpoint(ec2, wiring)["VpcEndpointId"]
    result = ec2.reject_vpc_endpoint_connections(
        ServiceId=wiring.service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert result["Unsuccessful"] == []
    assert _state(ec2, eid) == "rejected"


def test_subnet_in_an_az_the_service_lacks_is_refused(ec2: Any, wiring: Wiring) -> None:
    with pytest.raises(ClientError) as info:
        ec2.create_vpc_endpoint(
            VpcId=wiring.consumer_vpc,
            ServiceName=wiring.service["ServiceName"],
            VpcEndpointType="Interface",
            SubnetIds=[wiring.other_az_subnet],
        )
    assert "does not support the availability zone" in str(info.value)


def test_service_with_live_endpoints_cannot_be_deleted(ec2: Any, wiring: Wiring) -> None:
    _endpoint(ec2, wiring)
    result = ec2.delete_vpc_endpoint_service_configurations(
        ServiceIds=[wiring.service["ServiceId"]]
    )
    assert result["Unsuccessful"][0]["Error"]["Code"] == "ExistingVpcEndpointConnections"
    assert ec2.describe_vpc_endpoint_service_configurations(
        ServiceIds=[wiring.service["ServiceId"]]
    )["ServiceConfigurations"]


def test_target_health_reports_are_served_back(
    ec2: Any, elbv2: Any, wiring: Wiring, localstack: LocalStackProcess
) -> None:
    vpc = ec2.describe_subnets(SubnetIds=[wiring.provider_subnets["a"]])["Subnets"][0]["VpcId"]
    tg = elbv2.create_target_group(
        Name="plugin-tg",
        Protocol="TCP",
        Port=8080,
        VpcId=vpc,
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/healthz",
        TargetType="instance",
    )["TargetGroups"][0]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=wiring.provider_subnets["a"]
    )["Instances"][0]
    assert ipaddress.ip_address(instance["PrivateIpAddress"]) in ipaddress.ip_network(
        "10.10.1.0/24"
    )
    arn, iid = tg["TargetGroupArn"], instance["InstanceId"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": iid}])

    def health() -> dict[str, Any]:
        return dict(
            elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"][0][
                "TargetHealth"
            ]
        )

    assert health()["State"] == "initial"
    report = {
        "target_group_arn": arn,
        "targets": [
            {
                "id": iid,
                "port": 8080,
                "state": "unhealthy",
                "reason": "Target.FailedHealthChecks",
                "description": "Health checks failed",
            }
        ],
    }
    request = urllib.request.Request(
        f"{localstack.url}/_jerp/target-health",
        data=json.dumps(report).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert json.loads(resp.read()) == {"updated": 1}
    assert health() == {
        "State": "unhealthy",
        "Reason": "Target.FailedHealthChecks",
        "Description": "Health checks failed",
    }


def test_addresses_in_a_subnet_are_unique_across_instances_and_enis(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = _subnet(ec2, vpc, "10.30.5.0/28", "a")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instances = ec2.run_instances(ImageId=image, MinCount=3, MaxCount=3, SubnetId=subnet)[
        "Instances"
    ]
    enis = [ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"] for _ in range(3)]
    addresses = [i["PrivateIpAddress"] for i in instances] + [e["PrivateIpAddress"] for e in enis]
    assert len(set(addresses)) == len(addresses) == 6
    for address in addresses:
        assert ipaddress.ip_address(address) in ipaddress.ip_network("10.30.5.0/28")


def test_deleting_an_nlb_removes_its_node_enis(ec2: Any, elbv2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [_subnet(ec2, vpc, "10.40.1.0/24", "a"), _subnet(ec2, vpc, "10.40.3.0/24", "c")]
    arn = elbv2.create_load_balancer(
        Name="short-lived", Subnets=subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    description = "ELB " + arn.split(":loadbalancer/", 1)[1]

    def node_enis() -> list[Any]:
        return list(
            ec2.describe_network_interfaces(
                Filters=[{"Name": "description", "Values": [description]}]
            )["NetworkInterfaces"]
        )

    assert len(node_enis()) == 2
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert node_enis() == []
