"""A hand-made topology shaped like the seed: provider VPC with JERP behind an NLB, consumer
VPC with an interface endpoint and a client."""

from __future__ import annotations

from dataclasses import replace

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

LB_ARN = "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000:loadbalancer/net/jerp/abc123"
TG_ARN = "arn:aws:elasticloadbalancing:ap-northeast-2:000000000000:targetgroup/jerp/def456"
LB_DNS = "jerp-0123456789abcdef.elb.ap-northeast-2.amazonaws.com"
SVC = "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0dd89d6874c21c65f"
VPCE_DNS = (
    "vpce-008c5a31f5726b2b2-v5xcd2c1.vpce-svc-0dd89d6874c21c65f.ap-northeast-2.vpce.amazonaws.com"
)
VPCE_ZONE_A = (
    "vpce-008c5a31f5726b2b2-v5xcd2c1-ap-northeast-2a"
    ".vpce-svc-0dd89d6874c21c65f.ap-northeast-2.vpce.amazonaws.com"
)
AZ_A, AZ_C = "ap-northeast-2a", "ap-northeast-2c"


def endpoint_sg(allow_http: bool = True) -> SecurityGroup:
    rules = (SecurityGroupRule("tcp", 80, 80, cidrs=("10.20.0.0/16",)),) if allow_http else ()
    return SecurityGroup("sg-endpoint", "vpc-consumer", "endpoint", ingress=rules)


def make_topology(
    *,
    cross_zone: bool = False,
    endpoint_state: str = "available",
    allow_http: bool = True,
    targets: tuple[str, ...] = ("i-jerp-a", "i-jerp-c"),
    stopped: tuple[str, ...] = (),
) -> Topology:
    provider = Vpc(
        "vpc-provider",
        "10.10.0.0/16",
        "provider",
        (
            Subnet("subnet-pa", "vpc-provider", "10.10.1.0/24", AZ_A),
            Subnet("subnet-pc", "vpc-provider", "10.10.3.0/24", AZ_C),
        ),
    )
    consumer = Vpc(
        "vpc-consumer",
        "10.20.0.0/16",
        "consumer",
        (
            Subnet("subnet-ca", "vpc-consumer", "10.20.1.0/24", AZ_A),
            Subnet("subnet-cc", "vpc-consumer", "10.20.3.0/24", AZ_C),
        ),
    )
    jerp_sg = SecurityGroup(
        "sg-jerp",
        "vpc-provider",
        "jerp",
        ingress=(SecurityGroupRule("tcp", 8080, 8080, cidrs=("10.10.0.0/16",)),),
    )
    client_sg = SecurityGroup(
        "sg-client",
        "vpc-consumer",
        "client",
        ingress=(SecurityGroupRule("tcp", 22, 22, source_groups=("sg-endpoint",)),),
    )
    instances = tuple(
        replace(i, state="stopped") if i.instance_id in stopped else i
        for i in (
            Instance(
                "i-jerp-a",
                "jerp-a",
                "vpc-provider",
                "subnet-pa",
                "10.10.1.217",
                "running",
                ("sg-jerp",),
            ),
            Instance(
                "i-jerp-c",
                "jerp-c",
                "vpc-provider",
                "subnet-pc",
                "10.10.3.73",
                "running",
                ("sg-jerp",),
            ),
            Instance(
                "i-client",
                "jerp-consumer-client",
                "vpc-consumer",
                "subnet-ca",
                "10.20.1.10",
                "running",
                ("sg-client",),
            ),
        )
    )
    tg = TargetGroup(
        TG_ARN,
        "jerp",
        "TCP",
        8080,
        HealthCheck("HTTP", "/healthz", "traffic-port", 1, 2, 2),
        tuple(Target(t, 8080, "initial") for t in targets),
    )
    lb = LoadBalancer(
        LB_ARN,
        "jerp",
        LB_DNS,
        "internal",
        "network",
        "vpc-provider",
        "active",
        nodes=(
            LoadBalancerNode(AZ_A, "subnet-pa", "10.10.1.100"),
            LoadBalancerNode(AZ_C, "subnet-pc", "10.10.3.100"),
        ),
        listeners=(Listener("arn:listener", "TCP", 80, TG_ARN),),
        cross_zone=cross_zone,
    )
    endpoint = Endpoint(
        "vpce-008c5a31f5726b2b2",
        "vpc-consumer",
        SVC,
        endpoint_state,
        VPCE_DNS,
        ((AZ_A, VPCE_ZONE_A),),
        (
            EndpointInterface("eni-a", "subnet-ca", AZ_A, "10.20.1.50"),
            EndpointInterface("eni-c", "subnet-cc", AZ_C, "10.20.3.50"),
        ),
        ("sg-endpoint",),
    )
    return Topology(
        region="ap-northeast-2",
        vpcs=(provider, consumer),
        instances=instances,
        security_groups=(jerp_sg, client_sg, endpoint_sg(allow_http)),
        load_balancers=(lb,),
        target_groups=(tg,),
        endpoint_services=(
            EndpointService("vpce-svc-0dd89d6874c21c65f", SVC, "Available", True, (LB_ARN,)),
        ),
        endpoints=(endpoint,),
    )
