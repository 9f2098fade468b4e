"""CreateVpcEndpoint refuses what AWS refuses, and endpoints move through AWS's states.

boto3 against the session LocalStack with the plug-in; each test names the catalogue row
(docs/aws-behaviour.md) it proves.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration

# Shorter than the provider's first poll after an accept (5 s), see privatelink.PENDING_S.
PENDING_WINDOW_S = 5.0


@dataclass(frozen=True)
class Net:
    region: str
    lb_arn: str
    consumer_vpc: str
    subnet_a: str
    subnet_a2: str
    subnet_b: str
    subnet_c: str


def _subnet(ec2: Any, vpc: str, cidr: str, az: str) -> str:
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]
    return str(subnet["SubnetId"])


@pytest.fixture(scope="module")
def net(ec2: Any, elbv2: Any, ls_settings: HarnessSettings) -> Net:
    """An NLB in AZs a and c; a consumer VPC with subnets in a (two), b and c."""
    region = ls_settings.region
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    lb_subnets = [_subnet(ec2, vpc, "10.50.1.0/24", f"{region}a")]
    lb_subnets.append(_subnet(ec2, vpc, "10.50.3.0/24", f"{region}c"))
    lb = elbv2.create_load_balancer(
        Name=f"ep-{uuid.uuid4().hex[:8]}", Subnets=lb_subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    cvpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    return Net(
        region=region,
        lb_arn=lb["LoadBalancerArn"],
        consumer_vpc=cvpc,
        subnet_a=_subnet(ec2, cvpc, "10.60.1.0/24", f"{region}a"),
        subnet_a2=_subnet(ec2, cvpc, "10.60.11.0/24", f"{region}a"),
        subnet_b=_subnet(ec2, cvpc, "10.60.2.0/24", f"{region}b"),
        subnet_c=_subnet(ec2, cvpc, "10.60.3.0/24", f"{region}c"),
    )


def _service(ec2: Any, net: Net, **kwargs: Any) -> dict[str, Any]:
    return dict(
        ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[net.lb_arn], **kwargs
        )["ServiceConfiguration"]
    )


def _create(ec2: Any, net: Net, service_name: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("SubnetIds", [net.subnet_a])
    return dict(
        ec2.create_vpc_endpoint(
            VpcId=net.consumer_vpc,
            ServiceName=service_name,
            VpcEndpointType="Interface",
            **kwargs,
        )["VpcEndpoint"]
    )


def _refused(ec2: Any, net: Net, service_name: str, **kwargs: Any) -> dict[str, str]:
    before = {e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]}
    with pytest.raises(ClientError) as info:
        _create(ec2, net, service_name, **kwargs)
    after = {e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]}
    assert after == before, "a refused CreateVpcEndpoint must not create anything"
    return dict(info.value.response["Error"])


def _state(ec2: Any, endpoint_id: str) -> str:
    return str(ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"])


def _states_until_available(ec2: Any, endpoint_id: str, timeout_s: float) -> list[str]:
    """Every distinct state seen while waiting (deadline ``timeout_s``) for ``available``."""
    seen = [_state(ec2, endpoint_id)]
    deadline = time.monotonic() + timeout_s
    while seen[-1] != "available":
        assert time.monotonic() < deadline, f"{endpoint_id} not available: states {seen}"
        time.sleep(0.2)
        state = _state(ec2, endpoint_id)
        if state != seen[-1]:
            seen.append(state)
    return seen


def test_vpce_unknown_service_is_invalid_service_name(ec2: Any, net: Net) -> None:
    name = f"com.amazonaws.vpce.{net.region}.vpce-svc-0123456789abcdef0"
    error = _refused(ec2, net, name)
    assert (error["Code"], error["Message"]) == (
        "InvalidServiceName",
        f"The Vpc Endpoint Service '{name}' does not exist",
    )


def test_vpce_aws_service_names_are_still_accepted(ec2: Any, net: Net) -> None:
    endpoint = _create(ec2, net, f"com.amazonaws.{net.region}.ec2", SubnetIds=[])
    assert endpoint["ServiceName"] == f"com.amazonaws.{net.region}.ec2"


def test_vpce_duplicate_az_subnets_are_refused(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    error = _refused(ec2, net, service["ServiceName"], SubnetIds=[net.subnet_a, net.subnet_a2])
    assert error["Code"] == "DuplicateSubnetsInSameZone"
    assert error["Message"] == (
        f"Found another VPC endpoint subnet in the availability zone of {net.subnet_a2}. "
        "VPC endpoint subnets should be in different availability zones supported by the "
        "VPC endpoint service."
    )


def test_vpce_az_not_supported_is_invalid_parameter(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    error = _refused(ec2, net, service["ServiceName"], SubnetIds=[net.subnet_b])
    assert error["Code"] == "InvalidParameter"
    assert error["Message"] == (
        f"The VPC endpoint service {service['ServiceName']} does not support the availability "
        f"zone of the subnet: {net.subnet_b}."
    )


def test_vpce_policy_on_custom_service_is_refused(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    restrictive = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                    "Action": "*",
                    "Resource": "*",
                }
            ]
        }
    )
    error = _refused(ec2, net, service["ServiceName"], PolicyDocument=restrictive)
    assert error["Code"] == "InvalidParameter"
    assert "does not support VPC endpoint policies" in error["Message"]
    # The full-access default is what an endpoint to a custom service has anyway.
    full = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    )
    assert _create(ec2, net, service["ServiceName"], PolicyDocument=full)["VpcEndpointId"]


def test_vpce_private_dns_without_service_name_is_refused(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    error = _refused(ec2, net, service["ServiceName"], PrivateDnsEnabled=True)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameter",
        f"Private DNS can't be enabled because the service {service['ServiceName']} "
        "does not provide a private DNS name.",
    )
    endpoint = _create(ec2, net, service["ServiceName"], PrivateDnsEnabled=False)
    assert endpoint["PrivateDnsEnabled"] is False


def test_vpce_states_without_acceptance_pending_then_available(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    endpoint = _create(ec2, net, service["ServiceName"])
    assert endpoint["State"] == "pending"
    assert _states_until_available(ec2, endpoint["VpcEndpointId"], PENDING_WINDOW_S) == [
        "pending",
        "available",
    ]


def test_vpce_states_accept_moves_pending_acceptance_to_pending_to_available(
    ec2: Any, net: Net
) -> None:
    service = _service(ec2, net, AcceptanceRequired=True)
    eid = _create(ec2, net, service["ServiceName"])["VpcEndpointId"]
    assert _state(ec2, eid) == "pendingAcceptance"
    accepted = ec2.accept_vpc_endpoint_connections(
        ServiceId=service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert accepted["Unsuccessful"] == []
    assert _states_until_available(ec2, eid, PENDING_WINDOW_S) == ["pending", "available"]
    again = ec2.accept_vpc_endpoint_connections(
        ServiceId=service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert again["Unsuccessful"][0]["Error"]["Code"] == "InvalidState"


def test_vpce_states_a_new_endpoint_is_never_described_available_before_acceptance(
    ec2: Any, net: Net
) -> None:
    # moto files a new endpoint as `available` before the plug-in sets `pendingAcceptance`; a
    # describe in between (the data plane reads all the time) must not see that.
    service = _service(ec2, net, AcceptanceRequired=True)
    name = service["ServiceName"]
    seen: list[str] = []
    stop = threading.Event()

    def describe_all_the_time() -> None:
        while not stop.is_set():
            described = ec2.describe_vpc_endpoints()["VpcEndpoints"]
            seen.extend(e["State"] for e in described if e.get("ServiceName") == name)

    reader = threading.Thread(target=describe_all_the_time)
    reader.start()
    try:
        for _ in range(10):
            _create(ec2, net, name)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert seen and set(seen) == {"pendingAcceptance"}


def test_vpce_reject_available_connection_becomes_rejected(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    eid = _create(ec2, net, service["ServiceName"])["VpcEndpointId"]
    _states_until_available(ec2, eid, PENDING_WINDOW_S)
    result = ec2.reject_vpc_endpoint_connections(
        ServiceId=service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert result["Unsuccessful"] == []
    assert _state(ec2, eid) == "rejected"
    connection = ec2.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [service["ServiceId"]]}]
    )["VpcEndpointConnections"]
    assert [(c["VpcEndpointId"], c["VpcEndpointState"]) for c in connection] == [(eid, "rejected")]
    # A rejected connection does not keep the service from being deleted.
    deleted = ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[service["ServiceId"]])
    assert deleted["Unsuccessful"] == []


def test_vpce_default_sg_when_none_is_given(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    endpoint = _create(ec2, net, service["ServiceName"])
    default = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [net.consumer_vpc]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    assert [g["GroupId"] for g in endpoint["Groups"]] == [default]


def test_vpce_delete_unknown_is_an_unsuccessful_item(ec2: Any) -> None:
    unknown = "vpce-0fedcba9876543210"
    result = ec2.delete_vpc_endpoints(VpcEndpointIds=[unknown])
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in result["Unsuccessful"]] == [
        (unknown, "InvalidVpcEndpoint.NotFound")
    ]
    with pytest.raises(ClientError) as info:
        ec2.describe_vpc_endpoints(VpcEndpointIds=[unknown])
    assert info.value.response["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"


def test_vpce_private_dns_vpc_attrs_need_dns_support_and_hostnames(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False, PrivateDnsName="jerp.example.com")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnet = _subnet(ec2, vpc, "10.61.1.0/24", f"{net.region}a")

    def create() -> dict[str, Any]:
        return dict(
            ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=service["ServiceName"],
                VpcEndpointType="Interface",
                SubnetIds=[subnet],
                PrivateDnsEnabled=True,
            )["VpcEndpoint"]
        )

    with pytest.raises(ClientError) as info:
        create()  # a new VPC has DNS support but not DNS hostnames
    assert info.value.response["Error"]["Code"] == "InvalidParameter"
    assert info.value.response["Error"]["Message"] == (
        "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
        f"attributes set to true for {vpc}"
    )
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    assert create()["PrivateDnsEnabled"] is True


def test_vpce_user_defined_ipv4_addresses_from_subnet_configurations(ec2: Any, net: Net) -> None:
    service = _service(ec2, net, AcceptanceRequired=False)
    endpoint = _create(
        ec2,
        net,
        service["ServiceName"],
        SubnetIds=[net.subnet_a, net.subnet_c],
        SubnetConfigurations=[
            {"SubnetId": net.subnet_a, "Ipv4": "10.60.1.50"},
            {"SubnetId": net.subnet_c, "Ipv4": "10.60.3.50"},
        ],
    )
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    assert {e["SubnetId"]: e["PrivateIpAddress"] for e in enis} == {
        net.subnet_a: "10.60.1.50",
        net.subnet_c: "10.60.3.50",
    }
    assert len(endpoint["DnsEntries"]) == 3  # regional + one zonal per subnet
