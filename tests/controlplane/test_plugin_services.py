"""Endpoint service configurations as AWS answers them: filters, private DNS names and their
verification, and the NLB an endpoint service uses."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.controlplane.aws import AwsClients
from harness.controlplane.localstack import LocalStackProcess
from harness.dataplane.inventory import read_topology
from harness.dataplane.planner import plan, router_namespace
from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Nlb:
    region: str
    arn: str


@pytest.fixture(scope="module")
def nlb(ec2: Any, elbv2: Any, ls_settings: HarnessSettings) -> Nlb:
    region = ls_settings.region
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.80.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (3, "c"))
    ]
    lb = elbv2.create_load_balancer(
        Name=f"svc-{uuid.uuid4().hex[:8]}", Subnets=subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    return Nlb(region, lb["LoadBalancerArn"])


def _service(ec2: Any, nlb: Nlb, **kwargs: Any) -> dict[str, Any]:
    return dict(
        ec2.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[nlb.arn], **kwargs)[
            "ServiceConfiguration"
        ]
    )


def _describe(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return list(ec2.describe_vpc_endpoint_service_configurations(**kwargs)["ServiceConfigurations"])


def _publish_txt(localstack: LocalStackProcess, name: str, values: list[str]) -> None:
    request = urllib.request.Request(
        f"{localstack.url}/_jerp/public-dns",
        data=json.dumps({"name": name, "type": "TXT", "values": values}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["values"] == values


def test_svc_describe_filters_service_name_id_state_and_tags(ec2: Any, nlb: Nlb) -> None:
    tag = uuid.uuid4().hex
    first = _service(
        ec2,
        nlb,
        AcceptanceRequired=True,
        TagSpecifications=[
            {"ResourceType": "vpc-endpoint-service", "Tags": [{"Key": "case", "Value": tag}]}
        ],
    )
    second = _service(ec2, nlb, AcceptanceRequired=True)

    def ids(**kwargs: Any) -> list[str]:
        return [s["ServiceId"] for s in _describe(ec2, **kwargs)]

    by_name = [{"Name": "service-name", "Values": [first["ServiceName"]]}]
    assert ids(Filters=by_name) == [first["ServiceId"]]
    assert ids(Filters=[{"Name": "service-id", "Values": [second["ServiceId"]]}]) == [
        second["ServiceId"]
    ]
    assert ids(Filters=[{"Name": "tag:case", "Values": [tag]}]) == [first["ServiceId"]]
    available = ids(Filters=[{"Name": "service-state", "Values": ["Available"]}])
    assert {first["ServiceId"], second["ServiceId"]} <= set(available)
    assert ids(Filters=[{"Name": "service-state", "Values": ["Deleting"]}]) == []
    assert ids(ServiceIds=[second["ServiceId"]]) == [second["ServiceId"]]


def test_svc_describe_unknown_id_is_not_found(ec2: Any) -> None:
    with pytest.raises(ClientError) as info:
        _describe(ec2, ServiceIds=["vpce-svc-00000000000000000"])
    assert info.value.response["Error"]["Code"] == "InvalidVpcEndpointServiceId.NotFound"
    assert info.value.response["Error"]["Message"] == (
        "The VpcEndpointService Id 'vpce-svc-00000000000000000' does not exist"
    )


def test_svc_private_dns_none_has_no_name_keys(ec2: Any, nlb: Nlb) -> None:
    created = _service(ec2, nlb, AcceptanceRequired=False)
    described = _describe(ec2, ServiceIds=[created["ServiceId"]])[0]
    for config in (created, described):
        assert "PrivateDnsName" not in config
        assert "PrivateDnsNameConfiguration" not in config
        assert config["SupportedIpAddressTypes"] == ["ipv4"]
        assert config["ServiceType"] == [{"ServiceType": "Interface"}]
    detail = ec2.describe_vpc_endpoint_services(ServiceNames=[created["ServiceName"]])[
        "ServiceDetails"
    ][0]
    assert "PrivateDnsName" not in detail
    assert detail["VpcEndpointPolicySupported"] is False


def test_svc_private_dns_verification_txt_record_then_verified(
    ec2: Any, nlb: Nlb, localstack: LocalStackProcess
) -> None:
    domain = f"jerp-{uuid.uuid4().hex[:8]}.example.com"
    created = _service(ec2, nlb, AcceptanceRequired=False, PrivateDnsName=domain)
    sid = created["ServiceId"]
    assert created["PrivateDnsName"] == domain
    config = created["PrivateDnsNameConfiguration"]
    assert config["Type"] == "TXT"
    assert config["State"] == "pendingVerification"
    assert re.fullmatch(r"_[0-9a-z]{10}", config["Name"])
    assert config["Value"].startswith("vpce:")

    def state() -> str:
        return str(_describe(ec2, ServiceIds=[sid])[0]["PrivateDnsNameConfiguration"]["State"])

    # Nothing published: verification fails, as AWS's does when the record is missing.
    assert ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)["ReturnValue"]
    assert state() == "failed"
    _publish_txt(localstack, f"{config['Name']}.{domain}", ["some other text"])
    ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    assert state() == "failed"
    _publish_txt(localstack, f"{config['Name']}.{domain}", [config["Value"]])
    ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
    assert state() == "verified"
    detail = ec2.describe_vpc_endpoint_services(ServiceNames=[created["ServiceName"]])[
        "ServiceDetails"
    ][0]
    assert detail["PrivateDnsName"] == domain
    assert detail["PrivateDnsNameVerificationState"] == "verified"
    # A new name starts over with a new record to publish.
    ec2.modify_vpc_endpoint_service_configuration(ServiceId=sid, PrivateDnsName=f"x.{domain}")
    renamed = _describe(ec2, ServiceIds=[sid])[0]["PrivateDnsNameConfiguration"]
    assert renamed["State"] == "pendingVerification"
    assert renamed["Name"] != config["Name"]
    ec2.modify_vpc_endpoint_service_configuration(ServiceId=sid, RemovePrivateDnsName=True)
    assert "PrivateDnsName" not in _describe(ec2, ServiceIds=[sid])[0]


def test_svc_private_dns_only_verified_is_answered_in_the_consumer_vpc(
    ec2: Any, nlb: Nlb, localstack: LocalStackProcess, clients: AwsClients
) -> None:
    """Through the plug-in, the inventory and the planner: the consumer VPC's resolver gets
    the private name once the owner has verified it, and DescribeVpcEndpoints lists it."""
    domain = f"jerp-{uuid.uuid4().hex[:8]}.example.com"
    service = _service(ec2, nlb, AcceptanceRequired=False, PrivateDnsName=domain)
    vpc = ec2.create_vpc(CidrBlock="10.81.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    zone = f"{nlb.region}a"
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.81.1.0/24", AvailabilityZone=zone)
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=service["ServiceName"],
        VpcEndpointType="Interface",
        SubnetIds=[subnet["Subnet"]["SubnetId"]],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])
    eni_ip = eni["NetworkInterfaces"][0]["PrivateIpAddress"]

    def answered_in() -> list[str]:
        """The router namespaces of the VPCs whose resolver answers ``domain``."""
        desired = plan(read_topology(clients), "jpi001")
        assert domain not in desired.dns  # never public: not every VPC's resolver
        return [ns for ns, names in desired.vpc_dns.items() if domain in names]

    def dns_entries() -> list[dict[str, str]]:
        described = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
        return list(described["VpcEndpoints"][0]["DnsEntries"])

    read = next(
        e for e in read_topology(clients).endpoints if e.endpoint_id == endpoint["VpcEndpointId"]
    )
    assert (read.private_dns_name, read.private_dns_state) == (domain, "pendingVerification")
    assert answered_in() == []
    assert domain not in [e["DnsName"] for e in dns_entries()]

    config = service["PrivateDnsNameConfiguration"]
    _publish_txt(localstack, f"{config['Name']}.{domain}", [config["Value"]])
    ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=service["ServiceId"])
    consumer = router_namespace("jpi001", vpc)
    assert answered_in() == [consumer]
    desired = plan(read_topology(clients), "jpi001")
    assert desired.dns_for(consumer)[domain] == (eni_ip,)
    *own, private = dns_entries()
    assert [e["DnsName"] for e in own] == [d["DnsName"] for d in endpoint["DnsEntries"]]
    assert private["DnsName"] == domain
    assert re.fullmatch(r"Z[0-9A-F]{20}", private["HostedZoneId"])

    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], PrivateDnsEnabled=False)
    assert answered_in() == []
    assert domain not in [e["DnsName"] for e in dns_entries()]


def test_nlb_delete_backing_service_is_resource_in_use(ec2: Any, elbv2: Any, nlb: Nlb) -> None:
    _service(ec2, nlb, AcceptanceRequired=False)
    with pytest.raises(ClientError) as info:
        elbv2.delete_load_balancer(LoadBalancerArn=nlb.arn)
    assert info.value.response["Error"]["Code"] == "ResourceInUse"
    assert info.value.response["Error"]["Message"] == (
        f"Load balancer '{nlb.arn}' cannot be deleted because it is currently associated with "
        "another service"
    )
    assert elbv2.describe_load_balancers(LoadBalancerArns=[nlb.arn])["LoadBalancers"]


def test_svc_attributes_basic_base_dns_name_and_acceptance_default(
    ec2: Any, nlb: Nlb, ls_settings: HarnessSettings
) -> None:
    service = _service(ec2, nlb)
    sid = service["ServiceId"]
    assert service["AcceptanceRequired"] is True  # AWS's default
    assert service["ServiceState"] == "Available"
    assert service["BaseEndpointDnsNames"] == [f"{sid}.{ls_settings.region}.vpce.amazonaws.com"]
    assert service["ManagesVpcEndpoints"] is False
    assert service["NetworkLoadBalancerArns"] == [nlb.arn]
    assert service.get("GatewayLoadBalancerArns", []) == []
    assert service["AvailabilityZones"] == [f"{ls_settings.region}a", f"{ls_settings.region}c"]
    # Describe answers what Create answered.
    assert _describe(ec2, ServiceIds=[sid]) == [service]


def test_svc_nlb_xor_gwlb_neither_is_invalid_parameter(ec2: Any) -> None:
    with pytest.raises(ClientError) as info:
        ec2.create_vpc_endpoint_service_configuration(AcceptanceRequired=False)
    assert info.value.response["Error"]["Code"] == "InvalidParameter"


def test_svc_delete_unknown_is_an_unsuccessful_item(ec2: Any) -> None:
    unknown = "vpce-svc-0fedcba9876543210"
    result = ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[unknown])
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in result["Unsuccessful"]] == [
        (unknown, "InvalidVpcEndpointService.NotFound")
    ]
