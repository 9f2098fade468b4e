"""The control-plane changes of the corpus (``kind == "control"``), by case name.

Each runs against :class:`World`: a provider account A with an NLB, a target group, a listener
and an endpoint service (acceptance required, account B allowed), a consumer account B and a
stranger account C, each with its own VPC, all in one LocalStack (the account is the access
key). A change either raises ``ClientError`` with AWS's code, or, where AWS allows it, returns
after asserting what AWS then shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from harness.controlplane.aws import AwsClients
from harness.processes import wait_until

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

# Accounts of their own, so nothing another test module makes in the session LocalStack shows.
PROVIDER, CONSUMER, STRANGER = "444444444444", "555555555555", "666666666666"
UNKNOWN_SERVICE_ID = "vpce-svc-0123456789abcdef0"


@dataclass
class World:
    region: str
    a_ec2: EC2Client
    a_elb: ElasticLoadBalancingv2Client
    b_ec2: EC2Client
    c_ec2: EC2Client
    a_subnets: dict[str, str]  # "a", "c" (the NLB's), "a2" (a second one in a)
    b_vpc: str
    b_subnets: dict[str, str]  # "a", "a2", "b", "c"
    c_vpc: str
    c_subnets: dict[str, str]  # "a", "c"
    nlb_arn: str
    tg_arn: str
    service_id: str
    service_name: str
    created: list[tuple[EC2Client, str]] = field(default_factory=list)  # endpoints to delete

    def endpoint(self, ec2: EC2Client, vpc: str, subnets: list[str], **extra: Any) -> str:
        """CreateVpcEndpoint to the service; returns its id (deleted after the case)."""
        answer = ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=extra.pop("ServiceName", self.service_name),
            VpcEndpointType="Interface",
            SubnetIds=subnets,
            PrivateDnsEnabled=extra.pop("PrivateDnsEnabled", False),
            **extra,
        )
        endpoint_id = answer["VpcEndpoint"]["VpcEndpointId"]
        self.created.append((ec2, endpoint_id))
        return endpoint_id

    def cleanup(self) -> None:
        for ec2, endpoint_id in self.created:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        self.created.clear()


def _clients(url: str, region: str, account: str) -> AwsClients:
    return AwsClients(region=region, endpoint_url=url, access_key=account)


def _vpc(
    ec2: EC2Client, region: str, octet: int, azs: dict[str, str]
) -> tuple[str, dict[str, str]]:
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        label: ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{octet}.{i + 1}.0/24", AvailabilityZone=f"{region}{az}"
        )["Subnet"]["SubnetId"]
        for i, (label, az) in enumerate(azs.items())
    }
    return vpc, subnets


def build_world(url: str, region: str) -> World:
    a, b, c = (_clients(url, region, acct) for acct in (PROVIDER, CONSUMER, STRANGER))
    a_ec2, a_elb = a.ec2(), a.elbv2()
    a_vpc, a_subnets = _vpc(a_ec2, region, 90, {"a": "a", "c": "c", "a2": "a"})
    b_ec2, c_ec2 = b.ec2(), c.ec2()
    b_vpc, b_subnets = _vpc(b_ec2, region, 91, {"a": "a", "a2": "a", "b": "b", "c": "c"})
    c_vpc, c_subnets = _vpc(c_ec2, region, 92, {"a": "a", "c": "c"})
    nlb = a_elb.create_load_balancer(
        Name=f"corpus-{uuid.uuid4().hex[:8]}",
        Subnets=[a_subnets["a"], a_subnets["c"]],
        Scheme="internal",
        Type="network",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = a_elb.create_target_group(
        Name=f"corpus-{uuid.uuid4().hex[:8]}", Protocol="TCP", Port=8080, VpcId=a_vpc
    )["TargetGroups"][0]["TargetGroupArn"]
    a_elb.create_listener(
        LoadBalancerArn=nlb,
        Protocol="TCP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    service = a_ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=True
    )["ServiceConfiguration"]
    a_ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=service["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    return World(
        region=region,
        a_ec2=a_ec2,
        a_elb=a_elb,
        b_ec2=b_ec2,
        c_ec2=c_ec2,
        a_subnets=a_subnets,
        b_vpc=b_vpc,
        b_subnets=b_subnets,
        c_vpc=c_vpc,
        c_subnets=c_subnets,
        nlb_arn=nlb,
        tg_arn=tg,
        service_id=service["ServiceId"],
        service_name=service["ServiceName"],
    )


def _state(ec2: EC2Client, endpoint_id: str) -> str:
    return str(ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"])


def _wait_state(ec2: EC2Client, endpoint_id: str, wanted: str) -> None:
    # The plug-in moves pending -> available within a few seconds, as AWS does.
    wait_until(
        f"{endpoint_id} to be {wanted}", lambda: _state(ec2, endpoint_id), wanted.__eq__, 15.0
    )


def _accept(w: World, endpoint_id: str) -> None:
    answer = w.a_ec2.accept_vpc_endpoint_connections(
        ServiceId=w.service_id, VpcEndpointIds=[endpoint_id]
    )
    assert answer["Unsuccessful"] == [], answer["Unsuccessful"]
    _wait_state(w.b_ec2, endpoint_id, "available")


def _raise_unsuccessful(operation: str, answer: Any) -> None:
    """Batch APIs report failures in the answer; raise the first as AWS's error."""
    for item in answer.get("Unsuccessful") or []:
        error = item["Error"]
        raise ClientError(
            {"Error": {"Code": error.get("Code", ""), "Message": error.get("Message", "")}},
            operation,
        )


# --- the changes, one per control case -------------------------------------------------------


def unknown_service(w: World) -> None:
    w.endpoint(
        w.b_ec2,
        w.b_vpc,
        [w.b_subnets["a"]],
        ServiceName=f"com.amazonaws.vpce.{w.region}.{UNKNOWN_SERVICE_ID}",
    )


def two_subnets_in_one_az(w: World) -> None:
    w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"], w.b_subnets["a2"]])


def az_the_service_lacks(w: World) -> None:
    w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["b"]])


def subset_of_the_service_azs(w: World) -> None:
    endpoint_id = w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"]])
    endpoint = w.b_ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert str(endpoint["State"]) == "pendingAcceptance", endpoint["State"]
    assert endpoint["SubnetIds"] == [w.b_subnets["a"]]
    assert len(endpoint["NetworkInterfaceIds"]) == 1


def private_dns_without_a_name(w: World) -> None:
    w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"], w.b_subnets["c"]], PrivateDnsEnabled=True)


def account_not_allowed(w: World) -> None:
    w.endpoint(w.c_ec2, w.c_vpc, [w.c_subnets["a"]])


def wildcard_principal(w: World) -> None:
    w.a_ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=w.service_id, AddAllowedPrincipals=["*"]
    )
    try:
        endpoint_id = w.endpoint(w.c_ec2, w.c_vpc, [w.c_subnets["a"]])
        owner = w.c_ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
        assert owner["OwnerId"] == STRANGER
    finally:
        w.a_ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=w.service_id, RemoveAllowedPrincipals=["*"]
        )


def cross_account_accepted(w: World) -> None:
    endpoint_id = w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"], w.b_subnets["c"]])
    endpoint = w.b_ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert (endpoint["OwnerId"], endpoint["State"]) == (CONSUMER, "pendingAcceptance")
    connections = w.a_ec2.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [w.service_id]}]
    )["VpcEndpointConnections"]
    mine = [
        (c["VpcEndpointOwner"], c["VpcEndpointState"])
        for c in connections
        if c["VpcEndpointId"] == endpoint_id
    ]
    assert mine == [(CONSUMER, "pendingAcceptance")], mine
    _accept(w, endpoint_id)


def no_acceptance_required(w: World) -> None:
    w.a_ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=w.service_id, AcceptanceRequired=False
    )
    try:
        endpoint_id = w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"]])
        _wait_state(w.b_ec2, endpoint_id, "available")
    finally:
        w.a_ec2.modify_vpc_endpoint_service_configuration(
            ServiceId=w.service_id, AcceptanceRequired=True
        )


def reject_available(w: World) -> None:
    endpoint_id = w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"]])
    _accept(w, endpoint_id)
    answer = w.a_ec2.reject_vpc_endpoint_connections(
        ServiceId=w.service_id, VpcEndpointIds=[endpoint_id]
    )
    assert answer["Unsuccessful"] == [], answer["Unsuccessful"]
    _wait_state(w.b_ec2, endpoint_id, "rejected")


def principal_removal_keeps_connection(w: World) -> None:
    endpoint_id = w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"]])
    _accept(w, endpoint_id)
    principal = f"arn:aws:iam::{CONSUMER}:root"
    w.a_ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=w.service_id, RemoveAllowedPrincipals=[principal]
    )
    try:
        assert _state(w.b_ec2, endpoint_id) == "available"
    finally:
        w.a_ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=w.service_id, AddAllowedPrincipals=[principal]
        )


def delete_service_with_endpoint(w: World) -> None:
    w.endpoint(w.b_ec2, w.b_vpc, [w.b_subnets["a"]])
    answer = w.a_ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[w.service_id])
    _raise_unsuccessful("DeleteVpcEndpointServiceConfigurations", answer)


def describe_unknown_service(w: World) -> None:
    w.a_ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[UNKNOWN_SERVICE_ID])


def delete_nlb_behind_service(w: World) -> None:
    w.a_elb.delete_load_balancer(LoadBalancerArn=w.nlb_arn)


def _new_nlb(w: World, subnets: list[str]) -> str:
    return w.a_elb.create_load_balancer(
        Name=f"corpus-{uuid.uuid4().hex[:8]}", Subnets=subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]


def nlb_two_subnets_in_one_az(w: World) -> None:
    arn = _new_nlb(w, [w.a_subnets["a"], w.a_subnets["a2"]])
    w.a_elb.delete_load_balancer(LoadBalancerArn=arn)  # only reached when AWS's error is missing


def nlb_deletion_protection(w: World) -> None:
    arn = _new_nlb(w, [w.a_subnets["a"]])
    key = "deletion_protection.enabled"
    w.a_elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": key, "Value": "true"}]
    )
    try:
        w.a_elb.delete_load_balancer(LoadBalancerArn=arn)
    except ClientError:
        w.a_elb.modify_load_balancer_attributes(
            LoadBalancerArn=arn, Attributes=[{"Key": key, "Value": "false"}]
        )
        w.a_elb.delete_load_balancer(LoadBalancerArn=arn)
        raise


def nlb_security_groups_after_create(w: World) -> None:
    vpc = w.a_ec2.describe_subnets(SubnetIds=[w.a_subnets["a"]])["Subnets"][0]["VpcId"]
    group = w.a_ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    w.a_elb.set_security_groups(LoadBalancerArn=w.nlb_arn, SecurityGroups=[group])


def _cross_zone(w: World) -> str:
    attributes = w.a_elb.describe_load_balancer_attributes(LoadBalancerArn=w.nlb_arn)
    values = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
    return values.get("load_balancing.cross_zone.enabled", "(absent)")


def nlb_cross_zone_on(w: World) -> None:
    assert _cross_zone(w) == "false"
    key = "load_balancing.cross_zone.enabled"
    w.a_elb.modify_load_balancer_attributes(
        LoadBalancerArn=w.nlb_arn, Attributes=[{"Key": key, "Value": "true"}]
    )
    try:
        assert _cross_zone(w) == "true"
    finally:
        w.a_elb.modify_load_balancer_attributes(
            LoadBalancerArn=w.nlb_arn, Attributes=[{"Key": key, "Value": "false"}]
        )


def delete_target_group_in_use(w: World) -> None:
    w.a_elb.delete_target_group(TargetGroupArn=w.tg_arn)


CHANGES: dict[str, Callable[[World], None]] = {
    "endpoint-to-an-unknown-service-name": unknown_service,
    "endpoint-with-two-subnets-in-one-az": two_subnets_in_one_az,
    "endpoint-in-an-az-the-service-lacks": az_the_service_lacks,
    "endpoint-in-a-subset-of-the-service-azs": subset_of_the_service_azs,
    "endpoint-private-dns-on-a-service-without-a-name": private_dns_without_a_name,
    "endpoint-from-an-account-not-allowed": account_not_allowed,
    "endpoint-from-any-account-with-wildcard-principal": wildcard_principal,
    "cross-account-endpoint-accepted-by-the-service-owner": cross_account_accepted,
    "endpoint-available-at-once-without-acceptance": no_acceptance_required,
    "reject-an-available-connection": reject_available,
    "removing-a-principal-keeps-its-connection": principal_removal_keeps_connection,
    "delete-a-service-with-a-pending-endpoint": delete_service_with_endpoint,
    "describe-an-unknown-service-id": describe_unknown_service,
    "delete-the-nlb-behind-a-service": delete_nlb_behind_service,
    "nlb-with-two-subnets-in-one-az": nlb_two_subnets_in_one_az,
    "delete-an-nlb-with-deletion-protection": nlb_deletion_protection,
    "security-groups-on-an-nlb-created-without": nlb_security_groups_after_create,
    "nlb-cross-zone-on": nlb_cross_zone_on,
    "delete-a-target-group-a-listener-uses": delete_target_group_in_use,
}
