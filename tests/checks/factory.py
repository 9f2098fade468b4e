"""A hand-made deployment (the seed's addresses) and a probe that answers from a script."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.checks.checks import GREETING, Facts
from harness.checks.probes import CommandResult, ConnectResult, HttpResult, Resolution
from harness.dataplane.topology import (
    Endpoint,
    EndpointInterface,
    EndpointService,
    HealthCheck,
    Instance,
    Listener,
    LoadBalancer,
    LoadBalancerNode,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Target,
    TargetGroup,
    Topology,
    Vpc,
)

REGION = "ap-northeast-2"
SVC = "vpce-svc-0dd89d6874c21c65f"
VPCE = "vpce-008c5a31f5726b2b2"
REGIONAL = f"{VPCE}-v5xcd2c1.{SVC}.{REGION}.vpce.amazonaws.com"
ZONAL = {
    "ap-northeast-2a": f"{VPCE}-v5xcd2c1-ap-northeast-2a.{SVC}.{REGION}.vpce.amazonaws.com",
    "ap-northeast-2c": f"{VPCE}-v5xcd2c1-ap-northeast-2c.{SVC}.{REGION}.vpce.amazonaws.com",
}
NLB_DNS = "jerp-nlb-0123456789abcdef.elb.ap-northeast-2.amazonaws.com"
ELB = "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000"
NLB_ARN = f"{ELB}:loadbalancer/net/jerp-nlb/0123456789abcdef"
TG_ARN = (
    "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000:targetgroup/jerp/fedcba9876543210"
)
TARGET_A, TARGET_C, CLIENT = "i-0aaaaaaaaaaaaaaaa", "i-0ccccccccccccccccc", "i-0bbbbbbbbbbbbbbbb"
ENI_A, ENI_C = "eni-0a1", "eni-0c1"
NODE_IPS = {"ap-northeast-2a": "10.10.1.217", "ap-northeast-2c": "10.10.3.73"}
ENI_IPS = {"ap-northeast-2a": "10.20.1.50", "ap-northeast-2c": "10.20.3.60"}
TARGET_IPS = {TARGET_A: "10.10.1.10", TARGET_C: "10.10.3.10"}


def topology(
    endpoint_state: str = "available",
    health: dict[str, str] | None = None,
    endpoint_sg_rules: tuple[SecurityGroupRule, ...] | None = None,
) -> Topology:
    health = health or {TARGET_A: "healthy", TARGET_C: "healthy"}
    provider = Vpc(
        "vpc-p",
        "10.10.0.0/16",
        "jerp-provider",
        (
            Subnet("subnet-p1", "vpc-p", "10.10.1.0/24", "ap-northeast-2a"),
            Subnet("subnet-p3", "vpc-p", "10.10.3.0/24", "ap-northeast-2c"),
        ),
    )
    consumer = Vpc(
        "vpc-c",
        "10.20.0.0/16",
        "jerp-consumer",
        (
            Subnet("subnet-c1", "vpc-c", "10.20.1.0/24", "ap-northeast-2a"),
            Subnet("subnet-c3", "vpc-c", "10.20.3.0/24", "ap-northeast-2c"),
        ),
    )
    if endpoint_sg_rules is None:
        endpoint_sg_rules = (SecurityGroupRule("tcp", 80, 80, cidrs=("10.20.0.0/16",)),)
    return Topology(
        region=REGION,
        vpcs=(provider, consumer),
        instances=(
            Instance(
                TARGET_A,
                "jerp-1",
                "vpc-p",
                "subnet-p1",
                TARGET_IPS[TARGET_A],
                "running",
                ("sg-jerp",),
            ),
            Instance(
                TARGET_C,
                "jerp-2",
                "vpc-p",
                "subnet-p3",
                TARGET_IPS[TARGET_C],
                "running",
                ("sg-jerp",),
            ),
            Instance(
                CLIENT,
                "jerp-consumer-client",
                "vpc-c",
                "subnet-c1",
                "10.20.1.10",
                "running",
                ("sg-client",),
            ),
        ),
        security_groups=(
            SecurityGroup("sg-vpce", "vpc-c", "vpce", endpoint_sg_rules),
            SecurityGroup(
                "sg-jerp",
                "vpc-p",
                "jerp",
                (SecurityGroupRule("tcp", 8080, 8080, ("10.10.0.0/16",)),),
            ),
            SecurityGroup("sg-client", "vpc-c", "client"),
        ),
        load_balancers=(
            LoadBalancer(
                NLB_ARN,
                "jerp-nlb",
                NLB_DNS,
                "internal",
                "network",
                "vpc-p",
                "active",
                nodes=(
                    LoadBalancerNode("ap-northeast-2a", "subnet-p1", NODE_IPS["ap-northeast-2a"]),
                    LoadBalancerNode("ap-northeast-2c", "subnet-p3", NODE_IPS["ap-northeast-2c"]),
                ),
                listeners=(Listener("arn:listener", "TCP", 80, TG_ARN),),
            ),
        ),
        target_groups=(
            TargetGroup(
                TG_ARN,
                "jerp",
                "TCP",
                8080,
                HealthCheck("HTTP", "/healthz", "traffic-port", 10, 3, 3),
                targets=tuple(Target(t, 8080, h) for t, h in health.items()),
            ),
        ),
        endpoint_services=(
            EndpointService(
                SVC,
                f"com.amazonaws.vpce.{REGION}.{SVC}",
                "available",
                True,
                (NLB_ARN,),
                tuple(NODE_IPS),
            ),
        ),
        endpoints=(
            Endpoint(
                VPCE,
                "vpc-c",
                f"com.amazonaws.vpce.{REGION}.{SVC}",
                endpoint_state,
                REGIONAL,
                tuple(ZONAL.items()),
                (
                    EndpointInterface(
                        ENI_A, "subnet-c1", "ap-northeast-2a", ENI_IPS["ap-northeast-2a"]
                    ),
                    EndpointInterface(
                        ENI_C, "subnet-c3", "ap-northeast-2c", ENI_IPS["ap-northeast-2c"]
                    ),
                ),
                ("sg-vpce",),
            ),
        ),
    )


def outputs() -> dict[str, Any]:
    return {
        "region": REGION,
        "provider_vpc_id": "vpc-p",
        "provider_vpc_cidr": "10.10.0.0/16",
        "consumer_vpc_id": "vpc-c",
        "consumer_vpc_cidr": "10.20.0.0/16",
        "nlb_arn": NLB_ARN,
        "nlb_dns_name": NLB_DNS,
        "target_group_arn": TG_ARN,
        "endpoint_service_id": SVC,
        "endpoint_service_name": f"com.amazonaws.vpce.{REGION}.{SVC}",
        "endpoint_id": VPCE,
        "endpoint_regional_dns_name": REGIONAL,
        "endpoint_zonal_dns_names": dict(ZONAL),
        "endpoint_eni_ids": [ENI_A, ENI_C],
        "provider_instance_ids": [TARGET_A, TARGET_C],
        "provider_instance_private_ips": list(TARGET_IPS.values()),
        "consumer_client_instance_id": CLIENT,
        "consumer_client_private_ip": "10.20.1.10",
    }


def facts(**kwargs: Any) -> Facts:
    return Facts.from_outputs(outputs(), topology(**kwargs))


def greeting(url: str, served_by: str) -> HttpResult:
    return HttpResult(url, 200, GREETING, {"x-served-by": served_by})


class HealthyHttp:
    """What a working stack answers: a zonal name reaches its AZ's target, regional alternates."""

    def __init__(self) -> None:
        self.turn = 0

    def __call__(self, url: str) -> HttpResult:
        for az, name in ZONAL.items():
            if name in url:
                return greeting(url, TARGET_A if az.endswith("a") else TARGET_C)
        self.turn += 1
        return greeting(url, (TARGET_A, TARGET_C)[self.turn % 2])


@dataclass
class StubProbe:
    """Answers like a working stack unless a test overrides one of the callables."""

    dns: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            NLB_DNS: tuple(NODE_IPS.values()),
            REGIONAL: tuple(ENI_IPS.values()),
            **{ZONAL[az]: (ENI_IPS[az],) for az in ZONAL},
        }
    )
    http: Callable[[str], HttpResult] = field(default_factory=HealthyHttp)
    connect: Callable[[str, int], ConnectResult] = lambda a, p: ConnectResult(a, p, "unreachable")
    commands: dict[str, CommandResult] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    target: str = "stub"

    def resolve(self, name: str, from_host: str) -> Resolution:
        self.calls.append(("resolve", from_host))
        return Resolution(name, self.dns.get(name, ()), f"stub {from_host}")

    def http_get(self, host: str, urls: Sequence[str]) -> list[HttpResult]:
        self.calls.append(("http", host))
        return [self.http(url) for url in urls]

    def tcp_connect(self, host: str, targets: Sequence[tuple[str, int]]) -> list[ConnectResult]:
        self.calls.append(("tcp", host))
        return [self.connect(a, p) for a, p in targets]

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        self.calls.append(("run", host))
        return self.commands[argv[0]]


def with_dns(probe: StubProbe, name: str, addresses: tuple[str, ...]) -> StubProbe:
    return replace(probe, dns={**probe.dns, name: addresses})
