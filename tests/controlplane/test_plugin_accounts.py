"""PrivateLink across accounts: service in account A, endpoints from B (allowed) and C (not).

LocalStack takes a 12-digit access key as the account id, so each client below is one account
of the same session LocalStack.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.controlplane.localstack import LocalStackProcess
from harness.settings import HarnessSettings

pytestmark = pytest.mark.integration

PROVIDER, CONSUMER, STRANGER = "111111111111", "222222222222", "333333333333"


def _client(localstack: LocalStackProcess, region: str, service: str, account: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=localstack.url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="test",
    )


@dataclass(frozen=True)
class Accounts:
    region: str
    provider: Any  # EC2 client of account A
    consumer: Any  # of B
    stranger: Any  # of C
    service: dict[str, Any]
    consumer_subnets: list[str]
    stranger_subnets: list[str]


def _vpc_with_subnets(ec2: Any, region: str, second_octet: int) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{second_octet}.{i}.0/24", AvailabilityZone=f"{region}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (3, "c"))
    ]
    return vpc, subnets


@pytest.fixture(scope="module")
def accounts(localstack: LocalStackProcess, ls_settings: HarnessSettings) -> Accounts:
    region = ls_settings.region
    provider = _client(localstack, region, "ec2", PROVIDER)
    _, lb_subnets = _vpc_with_subnets(provider, region, 70)
    lb = _client(localstack, region, "elbv2", PROVIDER).create_load_balancer(
        Name=f"xacct-{uuid.uuid4().hex[:8]}", Subnets=lb_subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]
    service = provider.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]], AcceptanceRequired=True
    )["ServiceConfiguration"]
    provider.modify_vpc_endpoint_service_permissions(
        ServiceId=service["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    consumer = _client(localstack, region, "ec2", CONSUMER)
    stranger = _client(localstack, region, "ec2", STRANGER)
    return Accounts(
        region=region,
        provider=provider,
        consumer=consumer,
        stranger=stranger,
        service=service,
        consumer_subnets=_vpc_with_subnets(consumer, region, 71)[1],
        stranger_subnets=_vpc_with_subnets(stranger, region, 72)[1],
    )


def _endpoint(ec2: Any, subnets: list[str], service_name: str) -> dict[str, Any]:
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    return dict(
        ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=service_name,
            VpcEndpointType="Interface",
            SubnetIds=subnets,
            PrivateDnsEnabled=False,
        )["VpcEndpoint"]
    )


def _wait_state(ec2: Any, endpoint_id: str, wanted: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"]
        if state == wanted:
            return
        assert time.monotonic() < deadline, f"{endpoint_id} is {state}, not {wanted}"
        time.sleep(0.2)


def test_acct_cross_account_flow_endpoint_in_b_accepted_by_a(accounts: Accounts) -> None:
    endpoint = _endpoint(
        accounts.consumer, accounts.consumer_subnets, accounts.service["ServiceName"]
    )
    eid = endpoint["VpcEndpointId"]
    assert endpoint["OwnerId"] == CONSUMER
    assert endpoint["State"] == "pendingAcceptance"
    # The provider sees the request, owned by B, and accepts it.
    connections = accounts.provider.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [accounts.service["ServiceId"]]}]
    )["VpcEndpointConnections"]
    mine = [c for c in connections if c["VpcEndpointId"] == eid]
    assert [(c["VpcEndpointOwner"], c["VpcEndpointState"]) for c in mine] == [
        (CONSUMER, "pendingAcceptance")
    ]
    accepted = accounts.provider.accept_vpc_endpoint_connections(
        ServiceId=accounts.service["ServiceId"], VpcEndpointIds=[eid]
    )
    assert accepted["Unsuccessful"] == []
    _wait_state(accounts.consumer, eid, "available")
    # The endpoint lives in B only: A's own DescribeVpcEndpoints does not list it.
    assert eid not in {
        e["VpcEndpointId"] for e in accounts.provider.describe_vpc_endpoints()["VpcEndpoints"]
    }
    # A service with a live endpoint in another account cannot be deleted either.
    deleted = accounts.provider.delete_vpc_endpoint_service_configurations(
        ServiceIds=[accounts.service["ServiceId"]]
    )
    assert deleted["Unsuccessful"][0]["Error"]["Code"] == "ExistingVpcEndpointConnections"


def test_svc_principals_visibility_not_allowed_account_gets_invalid_service_name(
    accounts: Accounts,
) -> None:
    name = accounts.service["ServiceName"]
    before = accounts.stranger.describe_vpc_endpoints()["VpcEndpoints"]
    with pytest.raises(ClientError) as info:
        _endpoint(accounts.stranger, accounts.stranger_subnets, name)
    assert info.value.response["Error"]["Code"] == "InvalidServiceName"
    assert info.value.response["Error"]["Message"] == (
        f"The Vpc Endpoint Service '{name}' does not exist"
    )
    assert accounts.stranger.describe_vpc_endpoints()["VpcEndpoints"] == before


def test_svc_principals_role_arn_and_wildcard_allow_their_accounts(accounts: Accounts) -> None:
    sid, name = accounts.service["ServiceId"], accounts.service["ServiceName"]
    role = f"arn:aws:iam::{STRANGER}:role/consumer-app"
    accounts.provider.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=[role]
    )
    try:
        endpoint = _endpoint(accounts.stranger, accounts.stranger_subnets, name)
        assert endpoint["OwnerId"] == STRANGER
        accounts.stranger.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    finally:
        accounts.provider.modify_vpc_endpoint_service_permissions(
            ServiceId=sid, RemoveAllowedPrincipals=[role]
        )
    with pytest.raises(ClientError):
        _endpoint(accounts.stranger, accounts.stranger_subnets, name)
    accounts.provider.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=["*"]
    )
    try:
        assert _endpoint(accounts.stranger, accounts.stranger_subnets, name)["OwnerId"] == STRANGER
    finally:
        accounts.provider.modify_vpc_endpoint_service_permissions(
            ServiceId=sid, RemoveAllowedPrincipals=["*"]
        )


def test_svc_principal_removal_keeps_connections(accounts: Accounts) -> None:
    sid = accounts.service["ServiceId"]
    eid = _endpoint(accounts.consumer, accounts.consumer_subnets, accounts.service["ServiceName"])[
        "VpcEndpointId"
    ]
    accounts.provider.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[eid])
    _wait_state(accounts.consumer, eid, "available")
    principal = f"arn:aws:iam::{CONSUMER}:root"
    accounts.provider.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, RemoveAllowedPrincipals=[principal]
    )
    try:
        _wait_state(accounts.consumer, eid, "available", timeout_s=0.1)
    finally:
        accounts.provider.modify_vpc_endpoint_service_permissions(
            ServiceId=sid, AddAllowedPrincipals=[principal]
        )


def test_svc_principals_visibility_allowed_account_finds_the_service_by_name(
    accounts: Accounts,
) -> None:
    name = accounts.service["ServiceName"]
    details = accounts.consumer.describe_vpc_endpoint_services(ServiceNames=[name])[
        "ServiceDetails"
    ]
    assert [(d["ServiceName"], d["Owner"]) for d in details] == [(name, PROVIDER)]
    with pytest.raises(ClientError) as info:
        accounts.stranger.describe_vpc_endpoint_services(ServiceNames=[name])
    assert info.value.response["Error"]["Code"] == "InvalidServiceName"
