"""read_topology maps the AWS API shapes (EC2, ELBv2) onto the Topology model."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from harness.controlplane.aws import AwsClients
from harness.dataplane import inventory

ACCOUNT = "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000"
LB_ARN = f"{ACCOUNT}:loadbalancer/net/jerp/50dc6c495c0c9188"
TG_ARN = (
    "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000:targetgroup/jerp/73e2d6bc24d8a067"
)
REGIONAL = "vpce-0abc-x1y2z3w4.vpce-svc-0def.ap-northeast-2.vpce.amazonaws.com"
ZONAL = "vpce-0abc-x1y2z3w4-ap-northeast-2a.vpce-svc-0def.ap-northeast-2.vpce.amazonaws.com"


class FakeClient:
    """Answers the describe calls read_topology makes, with AWS-shaped documents."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def can_paginate(self, operation: str) -> bool:
        return False

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            answer = self.answers[operation]
            return answer(**kwargs) if callable(answer) else answer

        return call


def _enis(**kwargs: Any) -> dict[str, Any]:
    if kwargs["Filters"][0]["Name"] == "description":
        assert kwargs["Filters"] == [
            {"Name": "description", "Values": ["ELB net/jerp/50dc6c495c0c9188"]}
        ]
        return {
            "NetworkInterfaces": [
                {
                    "SubnetId": "subnet-c",
                    "AvailabilityZone": "ap-northeast-2c",
                    "PrivateIpAddress": "10.10.3.9",
                },
                {
                    "SubnetId": "subnet-a",
                    "AvailabilityZone": "ap-northeast-2a",
                    "PrivateIpAddress": "10.10.1.9",
                },
            ]
        }
    assert kwargs["Filters"] == [{"Name": "network-interface-id", "Values": ["eni-1"]}]
    return {
        "NetworkInterfaces": [
            {
                "NetworkInterfaceId": "eni-1",
                "SubnetId": "subnet-ca",
                "AvailabilityZone": "ap-northeast-2a",
                "PrivateIpAddress": "10.20.1.7",
            }
        ]
    }


EC2 = {
    # No user data: JERP on these instances does not expect proxy protocol.
    "describe_instance_attribute": {"UserData": {}},
    "describe_subnets": {
        "Subnets": [
            {
                "SubnetId": "subnet-a",
                "VpcId": "vpc-p",
                "CidrBlock": "10.10.1.0/24",
                "AvailabilityZone": "ap-northeast-2a",
            },
            {
                "SubnetId": "subnet-c",
                "VpcId": "vpc-p",
                "CidrBlock": "10.10.3.0/24",
                "AvailabilityZone": "ap-northeast-2c",
            },
            {
                "SubnetId": "subnet-ca",
                "VpcId": "vpc-c",
                "CidrBlock": "10.20.1.0/24",
                "AvailabilityZone": "ap-northeast-2a",
            },
        ]
    },
    "describe_vpcs": {
        "Vpcs": [
            {
                "VpcId": "vpc-p",
                "CidrBlock": "10.10.0.0/16",
                "Tags": [{"Key": "Name", "Value": "p"}],
            },
            {"VpcId": "vpc-c", "CidrBlock": "10.20.0.0/16"},
        ]
    },
    "describe_instances": {
        "Reservations": [
            {
                "Instances": [
                    {
                        "InstanceId": "i-1",
                        "State": {"Name": "running"},
                        "SubnetId": "subnet-a",
                        "VpcId": "vpc-p",
                        "PrivateIpAddress": "10.10.1.20",
                        "SecurityGroups": [{"GroupId": "sg-1"}],
                        "Tags": [{"Key": "Name", "Value": "jerp-1"}],
                    },
                ]
            }
        ]
    },
    "describe_security_groups": {
        "SecurityGroups": [
            {
                "GroupId": "sg-1",
                "VpcId": "vpc-p",
                "GroupName": "jerp",
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 8080,
                        "ToPort": 8080,
                        "IpRanges": [{"CidrIp": "10.10.0.0/16"}],
                        "UserIdGroupPairs": [{"GroupId": "sg-2"}],
                    },
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                ],
                "IpPermissionsEgress": [],
            },
        ]
    },
    "describe_network_interfaces": _enis,
    "describe_vpc_endpoint_service_configurations": {
        "ServiceConfigurations": [
            {
                "ServiceId": "vpce-svc-0def",
                "ServiceName": "com.amazonaws.vpce.x.vpce-svc-0def",
                "ServiceState": "Available",
                "AcceptanceRequired": True,
                "NetworkLoadBalancerArns": [LB_ARN],
            }
        ]
    },
    "describe_vpc_endpoints": {
        "VpcEndpoints": [
            {
                "VpcEndpointId": "vpce-0abc",
                "VpcEndpointType": "Interface",
                "VpcId": "vpc-c",
                "ServiceName": "com.amazonaws.vpce.x.vpce-svc-0def",
                "State": "pendingAcceptance",
                "DnsEntries": [{"DnsName": REGIONAL}, {"DnsName": ZONAL}],
                "NetworkInterfaceIds": ["eni-1"],
                "Groups": [{"GroupId": "sg-e"}],
            },
            {"VpcEndpointId": "vpce-gw", "VpcEndpointType": "Gateway", "VpcId": "vpc-c"},
        ]
    },
}

ELBV2 = {
    "describe_load_balancers": {
        "LoadBalancers": [
            {
                "LoadBalancerArn": LB_ARN,
                "LoadBalancerName": "jerp",
                "Type": "network",
                "DNSName": "jerp-50dc6c495c0c9188.elb.ap-northeast-2.amazonaws.com",
                "Scheme": "internal",
                "VpcId": "vpc-p",
                "State": {"Code": "active"},
            }
        ]
    },
    "describe_listeners": {
        "Listeners": [
            {
                "ListenerArn": "arn:l",
                "Protocol": "TCP",
                "Port": 80,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}],
            }
        ]
    },
    "describe_load_balancer_attributes": {
        "Attributes": [{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
    },
    "describe_target_groups": {
        "TargetGroups": [
            {
                "TargetGroupArn": TG_ARN,
                "TargetGroupName": "jerp",
                "Protocol": "TCP",
                "Port": 8080,
                "HealthCheckProtocol": "HTTP",
                "HealthCheckPath": "/healthz",
                "HealthCheckPort": "traffic-port",
                "HealthCheckIntervalSeconds": 10,
                "HealthyThresholdCount": 3,
                "UnhealthyThresholdCount": 2,
                "Matcher": {"HttpCode": "200"},
            }
        ]
    },
    "describe_target_health": {
        "TargetHealthDescriptions": [
            {"Target": {"Id": "i-1", "Port": 8080}, "TargetHealth": {"State": "healthy"}}
        ]
    },
    "describe_target_group_attributes": {
        "Attributes": [{"Key": "proxy_protocol_v2.enabled", "Value": "false"}]
    },
}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    ec2, elbv2 = FakeClient(EC2), FakeClient(ELBV2)
    monkeypatch.setattr(AwsClients, "ec2", lambda self: ec2)
    monkeypatch.setattr(AwsClients, "elbv2", lambda self: elbv2)
    return AwsClients(region="ap-northeast-2", endpoint_url="http://127.0.0.1:1")


def test_nlb_nodes_are_the_enis_described_elb_net(clients: AwsClients) -> None:
    topology = inventory.read_topology(clients)
    (lb,) = topology.load_balancers
    assert [(n.az, n.private_ip) for n in lb.nodes] == [
        ("ap-northeast-2a", "10.10.1.9"),
        ("ap-northeast-2c", "10.10.3.9"),
    ]
    assert lb.cross_zone is True
    assert lb.listeners[0].port == 80 and lb.listeners[0].target_group_arn == TG_ARN


def test_target_group_health_check_and_targets(clients: AwsClients) -> None:
    (tg,) = inventory.read_topology(clients).target_groups
    assert tg.health_check.path == "/healthz"
    assert (tg.health_check.interval_s, tg.health_check.healthy_threshold) == (10, 3)
    assert tg.health_check.unhealthy_threshold == 2
    assert tg.health_check.matcher == "200"
    assert [(t.target_id, t.port, t.health) for t in tg.targets] == [("i-1", 8080, "healthy")]


def test_endpoint_enis_and_dns_entries(clients: AwsClients) -> None:
    topology = inventory.read_topology(clients)
    (endpoint,) = topology.endpoints  # the gateway endpoint is not an interface endpoint
    assert endpoint.state == "pendingAcceptance"
    assert endpoint.regional_dns == REGIONAL
    assert endpoint.zonal_dns == (("ap-northeast-2a", ZONAL),)
    assert [(i.eni_id, i.private_ip, i.az) for i in endpoint.interfaces] == [
        ("eni-1", "10.20.1.7", "ap-northeast-2a")
    ]
    assert endpoint.security_groups == ("sg-e",)


def test_instances_vpcs_and_security_groups(clients: AwsClients) -> None:
    topology = inventory.read_topology(clients)
    assert topology.instance("jerp-1").private_ip == "10.10.1.20"
    assert topology.vpc("vpc-p").resolver_ip == "10.10.0.2"
    assert [s.cidr for s in topology.vpc("vpc-p").subnets] == ["10.10.1.0/24", "10.10.3.0/24"]
    (group,) = topology.security_groups
    assert group.ingress[0].source_groups == ("sg-2",)
    assert group.ingress[1].protocol == "-1" and group.ingress[1].cidrs == ("10.0.0.0/8",)


def test_endpoint_enis_are_read_in_one_call_per_200(monkeypatch: pytest.MonkeyPatch) -> None:
    count = 250
    endpoints = [
        {
            "VpcEndpointId": f"vpce-{n}",
            "VpcEndpointType": "Interface",
            "VpcId": f"vpc-{n}",
            "State": "available",
            "NetworkInterfaceIds": [f"eni-{n}"],
        }
        for n in range(count)
    ]

    def enis(**kwargs: Any) -> dict[str, Any]:
        [wanted] = kwargs["Filters"]
        if wanted["Name"] != "network-interface-id":
            return {"NetworkInterfaces": []}
        assert len(wanted["Values"]) <= 200, "DescribeNetworkInterfaces takes 200 filter values"
        return {
            "NetworkInterfaces": [
                {
                    "NetworkInterfaceId": eni_id,
                    "SubnetId": "subnet-x",
                    "AvailabilityZone": "ap-northeast-2a",
                    "PrivateIpAddress": f"10.30.{int(eni_id[4:]) // 200}.{int(eni_id[4:]) % 200}",
                }
                for eni_id in wanted["Values"]
            ]
        }

    ec2 = FakeClient({**EC2, "describe_vpc_endpoints": {"VpcEndpoints": endpoints}})
    ec2.answers["describe_network_interfaces"] = enis
    monkeypatch.setattr(AwsClients, "ec2", lambda self: ec2)
    monkeypatch.setattr(AwsClients, "elbv2", lambda self: FakeClient(ELBV2))
    clients = AwsClients(region="ap-northeast-2", endpoint_url="http://127.0.0.1:1")

    topology = inventory.read_topology(clients)

    reads = [
        kw
        for op, kw in ec2.calls
        if op == "describe_network_interfaces"
        and kw["Filters"][0]["Name"] == "network-interface-id"
    ]
    assert [len(kw["Filters"][0]["Values"]) for kw in reads] == [200, 50]
    assert {ep.endpoint_id: [i.eni_id for i in ep.interfaces] for ep in topology.endpoints} == {
        f"vpce-{n}": [f"eni-{n}"] for n in range(count)
    }


def test_private_dns_name_and_state_come_from_the_consumers_service_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (interface, gateway) = EC2["describe_vpc_endpoints"]["VpcEndpoints"]
    private = {**interface, "PrivateDnsEnabled": True}
    # The private name's own entry (AWS adds it last) is neither the regional nor a zonal name.
    private["DnsEntries"] = [*interface["DnsEntries"], {"DnsName": "jerp.example.com"}]
    services = {
        "ServiceDetails": [
            {
                "ServiceName": "com.amazonaws.vpce.x.vpce-svc-0def",
                "PrivateDnsName": "Jerp.Example.com.",
                "PrivateDnsNameVerificationState": "verified",
            }
        ]
    }
    ec2 = FakeClient(
        {
            **EC2,
            "describe_vpc_endpoints": {"VpcEndpoints": [private, gateway]},
            "describe_vpc_endpoint_services": services,
        }
    )
    monkeypatch.setattr(AwsClients, "ec2", lambda self: ec2)
    monkeypatch.setattr(AwsClients, "elbv2", lambda self: FakeClient(ELBV2))
    clients = AwsClients(region="ap-northeast-2", endpoint_url="http://127.0.0.1:1")
    (endpoint,) = inventory.read_topology(clients).endpoints
    assert endpoint.private_dns_enabled
    assert (endpoint.private_dns_name, endpoint.private_dns_state) == (
        "jerp.example.com",
        "verified",
    )
    assert endpoint.private_dns_in_use
    assert endpoint.regional_dns == REGIONAL
    assert endpoint.zonal_dns == (("ap-northeast-2a", ZONAL),)
    # A filter, not ServiceNames: a service gone under its endpoint must not fail the read.
    asked = [kw for op, kw in ec2.calls if op == "describe_vpc_endpoint_services"]
    assert asked == [
        {"Filters": [{"Name": "service-name", "Values": ["com.amazonaws.vpce.x.vpce-svc-0def"]}]}
    ]


def test_no_service_lookup_without_private_dns(clients: AwsClients) -> None:
    (endpoint,) = inventory.read_topology(clients).endpoints
    assert not endpoint.private_dns_enabled and not endpoint.private_dns_in_use
    ec2 = clients.ec2()
    assert all(op != "describe_vpc_endpoint_services" for op, _ in ec2.calls)


def test_a_reader_keeps_its_threads_across_reads_and_ends_them_on_close(
    clients: AwsClients,
) -> None:
    def readers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("read")}

    already = readers()
    reader = inventory.TopologyReader(clients)
    reader.read()
    first = readers() - already
    assert first, "a read asks its Describe calls in the reader's threads"
    for _ in range(3):
        reader.read()
    kept = readers() - already
    assert first <= kept and all(t.is_alive() for t in first), "a read does not end its threads"
    assert len(kept) <= len(inventory._LISTS), "later reads reuse them, up to one per call"
    reader.close()
    assert not (readers() - already), "close() ends them"


# ------------------------------------------------------------------ reading only what changed


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeClient, FakeClient, AwsClients]:
    ec2, elbv2 = FakeClient(dict(EC2)), FakeClient(dict(ELBV2))
    monkeypatch.setattr(AwsClients, "ec2", lambda self: ec2)
    monkeypatch.setattr(AwsClients, "elbv2", lambda self: elbv2)
    return ec2, elbv2, AwsClients(region="ap-northeast-2", endpoint_url="http://127.0.0.1:1")


def _accepted(ec2: FakeClient) -> None:
    """The control plane accepts the endpoint (as the fake answers from now on)."""
    [endpoint, gateway] = EC2["describe_vpc_endpoints"]["VpcEndpoints"]
    ec2.answers["describe_vpc_endpoints"] = {
        "VpcEndpoints": [{**endpoint, "State": "available"}, gateway]
    }


def _asked(*fakes: FakeClient) -> set[str]:
    asked = {operation for fake in fakes for operation, _ in fake.calls}
    for fake in fakes:
        fake.calls.clear()
    return asked


def test_after_an_acceptance_only_the_endpoints_are_read_again(
    fakes: tuple[FakeClient, FakeClient, AwsClients],
) -> None:
    ec2, elbv2, clients = fakes
    with inventory.TopologyReader(clients, whole_every_s=60) as reader:
        whole = reader.read(None)
        assert "describe_security_groups" in _asked(ec2, elbv2)
        _accepted(ec2)
        again = reader.read({"AcceptVpcEndpointConnections", "VpcEndpointAvailable"})
        assert reader.last_read == "endpoints"
    # Its ENI was described by the first read and cannot have changed.
    assert _asked(ec2, elbv2) == {"describe_vpc_endpoints"}
    assert [e.state for e in again.endpoints] == ["available"]
    assert again.endpoints[0].interfaces == whole.endpoints[0].interfaces
    assert (again.vpcs, again.security_groups, again.load_balancers, again.target_groups) == (
        whole.vpcs,
        whole.security_groups,
        whole.load_balancers,
        whole.target_groups,
    )


def test_a_security_group_rule_change_reads_the_groups_alone(
    fakes: tuple[FakeClient, FakeClient, AwsClients],
) -> None:
    ec2, elbv2, clients = fakes
    with inventory.TopologyReader(clients, whole_every_s=60) as reader:
        reader.read(None)
        _asked(ec2, elbv2)
        ec2.answers["describe_security_groups"] = {"SecurityGroups": []}
        assert reader.read({"RevokeSecurityGroupIngress"}).security_groups == ()
    assert _asked(ec2, elbv2) == {"describe_security_groups"}


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        (None, "what changed is not known"),
        (set(), "no change named: the periodic poll"),
        ({"AcceptVpcEndpointConnections", "CreateVpc"}, "a change the reader cannot place"),
    ],
)
def test_everything_is_read_when_the_changes_are_not_all_known(
    fakes: tuple[FakeClient, FakeClient, AwsClients], changed: set[str] | None, why: str
) -> None:
    ec2, elbv2, clients = fakes
    with inventory.TopologyReader(clients, whole_every_s=60) as reader:
        reader.read(None)
        _asked(ec2, elbv2)
        reader.read(changed)
        assert reader.last_read == "all", why
    assert "describe_vpcs" in _asked(ec2, elbv2), why


def test_everything_is_read_once_the_last_whole_read_is_older_than_whole_every_s(
    fakes: tuple[FakeClient, FakeClient, AwsClients],
) -> None:
    *_, clients = fakes
    with inventory.TopologyReader(clients) as reader:  # whole_every_s=0: every read whole
        reader.read(None)
        reader.read({"AcceptVpcEndpointConnections"})
        assert reader.last_read == "all"


def test_a_failed_read_makes_the_next_read_whole(
    fakes: tuple[FakeClient, FakeClient, AwsClients],
) -> None:
    """The changes a failed read took are not read yet: nothing of them may be lost."""
    ec2, _, clients = fakes
    with inventory.TopologyReader(clients, whole_every_s=60) as reader:
        reader.read(None)
        answer = ec2.answers.pop("describe_vpc_endpoints")
        with pytest.raises(KeyError):
            reader.read({"AcceptVpcEndpointConnections"})
        ec2.answers["describe_vpc_endpoints"] = answer
        reader.read({"AcceptVpcEndpointConnections"})
        assert reader.last_read == "all"


def test_an_endpoint_eni_is_described_once_while_it_is_in_use(
    fakes: tuple[FakeClient, FakeClient, AwsClients],
) -> None:
    ec2, _, clients = fakes

    def eni_lookups() -> list[list[str]]:
        asked = [
            kwargs["Filters"][0]["Values"]
            for operation, kwargs in ec2.calls
            if operation == "describe_network_interfaces"
            and kwargs["Filters"][0]["Name"] == "network-interface-id"
        ]
        ec2.calls.clear()
        return asked

    with inventory.TopologyReader(clients) as reader:
        first = reader.read(None)
        assert eni_lookups() == [["eni-1"]]
        again = reader.read(None)
        assert eni_lookups() == [], "a whole read asks only for ENIs it has not described"
        assert again.endpoints == first.endpoints
        # The endpoint goes away: its ENI is forgotten, and asked for should it come back.
        ec2.answers["describe_vpc_endpoints"] = {"VpcEndpoints": []}
        reader.read(None)
        ec2.answers["describe_vpc_endpoints"] = EC2["describe_vpc_endpoints"]
        reader.read(None)
        assert eni_lookups() == [["eni-1"]]
