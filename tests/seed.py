"""The seed article's deployment, by hand: the one topology every test that needs one starts from.

Provider VPC 10.10.0.0/16 with subnets 10.10.1.0/24 (AZ a) and 10.10.3.0/24 (AZ c), a JERP
instance in each behind an internal NLB with one node per AZ, an endpoint service from the NLB;
consumer VPC 10.20.0.0/16 with an interface endpoint (one ENI per AZ) and a client instance.

The NLB node addresses are the ones the seed's ``nslookup`` printed (10.10.1.217, 10.10.3.73);
the ids of the endpoint and its service are the seed's ``curl`` host. ``seed_topology()`` is
the deployment as built; its keyword arguments are the variations tests need (a pending
endpoint, a stopped target, a dropped security-group rule, ...). ``seed_outputs()`` is what
Terraform prints for the same deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

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
AZ_A, AZ_C = f"{REGION}a", f"{REGION}c"
LISTENER_PORT, TARGET_PORT = 80, 8080

PROVIDER_VPC, PROVIDER_CIDR = "vpc-provider", "10.10.0.0/16"
CONSUMER_VPC, CONSUMER_CIDR = "vpc-consumer", "10.20.0.0/16"
PROVIDER_SUBNETS = {AZ_A: ("subnet-pa", "10.10.1.0/24"), AZ_C: ("subnet-pc", "10.10.3.0/24")}
CONSUMER_SUBNETS = {AZ_A: ("subnet-ca", "10.20.1.0/24"), AZ_C: ("subnet-cc", "10.20.3.0/24")}

TARGET_A, TARGET_C, CLIENT = "i-jerp-a", "i-jerp-c", "i-client"
TARGET_IPS = {TARGET_A: "10.10.1.10", TARGET_C: "10.10.3.10"}
CLIENT_IP = "10.20.1.10"
NODE_IPS = {AZ_A: "10.10.1.217", AZ_C: "10.10.3.73"}
ENI_A, ENI_C = "eni-a", "eni-c"
ENI_IPS = {AZ_A: "10.20.1.50", AZ_C: "10.20.3.50"}

ENDPOINT_SG, TARGET_SG, CLIENT_SG = "sg-vpce", "sg-jerp", "sg-client"
HTTP_FROM_CONSUMER = (
    SecurityGroupRule("tcp", LISTENER_PORT, LISTENER_PORT, cidrs=(CONSUMER_CIDR,)),
)

_ELB = f"arn:aws:elasticloadbalancing:{REGION}:000000000000"
NLB_NAME = "jerp-nlb"
NLB_ARN = f"{_ELB}:loadbalancer/net/{NLB_NAME}/0123456789abcdef"
NLB_DNS = f"{NLB_NAME}-0123456789abcdef.elb.{REGION}.amazonaws.com"
TG_ARN = f"{_ELB}:targetgroup/jerp/fedcba9876543210"

SVC = "vpce-svc-0dd89d6874c21c65f"
SVC_NAME = f"com.amazonaws.vpce.{REGION}.{SVC}"
VPCE = "vpce-008c5a31f5726b2b2"
REGIONAL = f"{VPCE}-v5xcd2c1.{SVC}.{REGION}.vpce.amazonaws.com"
ZONAL = {az: f"{VPCE}-v5xcd2c1-{az}.{SVC}.{REGION}.vpce.amazonaws.com" for az in (AZ_A, AZ_C)}


def _vpc(vpc_id: str, cidr: str, name: str, subnets: Mapping[str, tuple[str, str]]) -> Vpc:
    members = tuple(Subnet(sid, vpc_id, net, az) for az, (sid, net) in subnets.items())
    return Vpc(vpc_id, cidr, name, members)


def seed_topology(
    *,
    endpoint_state: str = "available",
    health: Mapping[str, str] | None = None,
    endpoint_ingress: tuple[SecurityGroupRule, ...] = HTTP_FROM_CONSUMER,
    cross_zone: bool = False,
    targets: tuple[str, ...] = (TARGET_A, TARGET_C),
    stopped: tuple[str, ...] = (),
    private_dns_name: str = "",
    private_dns_state: str = "verified",
    private_dns_enabled: bool | None = None,
) -> Topology:
    """The seed deployment; ``health`` maps registered targets to their state (default healthy),
    ``targets`` are the registered ones, ``stopped`` the instances that are stopped.

    ``private_dns_name`` gives the service a private DNS name in ``private_dns_state``, which
    the endpoint enables unless ``private_dns_enabled`` is False (the seed has none)."""
    health = {t: "healthy" for t in targets} if health is None else dict(health)
    target_subnets = {TARGET_A: PROVIDER_SUBNETS[AZ_A][0], TARGET_C: PROVIDER_SUBNETS[AZ_C][0]}
    instances = [
        Instance(t, name, PROVIDER_VPC, target_subnets[t], TARGET_IPS[t], "running", (TARGET_SG,))
        for t, name in ((TARGET_A, "jerp-1"), (TARGET_C, "jerp-2"))
    ]
    instances.append(
        Instance(
            CLIENT,
            "jerp-consumer-client",
            CONSUMER_VPC,
            CONSUMER_SUBNETS[AZ_A][0],
            CLIENT_IP,
            "running",
            (CLIENT_SG,),
        )
    )
    return Topology(
        region=REGION,
        vpcs=(
            _vpc(PROVIDER_VPC, PROVIDER_CIDR, "jerp-provider", PROVIDER_SUBNETS),
            _vpc(CONSUMER_VPC, CONSUMER_CIDR, "jerp-consumer", CONSUMER_SUBNETS),
        ),
        instances=tuple(
            replace(i, state="stopped") if i.instance_id in stopped else i for i in instances
        ),
        security_groups=(
            SecurityGroup(ENDPOINT_SG, CONSUMER_VPC, "vpce", endpoint_ingress),
            SecurityGroup(
                TARGET_SG,
                PROVIDER_VPC,
                "jerp",
                (SecurityGroupRule("tcp", TARGET_PORT, TARGET_PORT, cidrs=(PROVIDER_CIDR,)),),
            ),
            SecurityGroup(
                CLIENT_SG,
                CONSUMER_VPC,
                "client",
                (SecurityGroupRule("tcp", 22, 22, source_groups=(ENDPOINT_SG,)),),
            ),
        ),
        load_balancers=(
            LoadBalancer(
                NLB_ARN,
                NLB_NAME,
                NLB_DNS,
                "network",
                PROVIDER_VPC,
                "active",
                nodes=tuple(
                    LoadBalancerNode(az, PROVIDER_SUBNETS[az][0], ip) for az, ip in NODE_IPS.items()
                ),
                listeners=(Listener("arn:listener", "TCP", LISTENER_PORT, TG_ARN),),
                cross_zone=cross_zone,
            ),
        ),
        target_groups=(
            TargetGroup(
                TG_ARN,
                "jerp",
                "TCP",
                TARGET_PORT,
                # Checks every second (AWS's minimum is 10 s) so the emulated stack in the root
                # tests turns healthy in seconds.
                HealthCheck("HTTP", "/healthz", "traffic-port", 1, 2, 2),
                targets=tuple(Target(t, TARGET_PORT, health.get(t, "initial")) for t in targets),
            ),
        ),
        endpoint_services=(EndpointService(SVC, SVC_NAME, "Available", (NLB_ARN,)),),
        endpoints=(
            Endpoint(
                VPCE,
                CONSUMER_VPC,
                SVC_NAME,
                endpoint_state,
                REGIONAL,
                tuple(ZONAL.items()),
                (
                    EndpointInterface(ENI_A, CONSUMER_SUBNETS[AZ_A][0], AZ_A, ENI_IPS[AZ_A]),
                    EndpointInterface(ENI_C, CONSUMER_SUBNETS[AZ_C][0], AZ_C, ENI_IPS[AZ_C]),
                ),
                (ENDPOINT_SG,),
                private_dns_enabled=bool(private_dns_name)
                if private_dns_enabled is None
                else private_dns_enabled,
                private_dns_name=private_dns_name,
                private_dns_state=private_dns_state if private_dns_name else "",
            ),
        ),
    )


def seed_outputs() -> dict[str, Any]:
    """The Terraform outputs of the seed deployment (``terraform/stacks/_shared/kit.tf``)."""
    return {
        "region": REGION,
        "provider_vpc_id": PROVIDER_VPC,
        "provider_vpc_cidr": PROVIDER_CIDR,
        "consumer_vpc_id": CONSUMER_VPC,
        "consumer_vpc_cidr": CONSUMER_CIDR,
        "nlb_arn": NLB_ARN,
        "nlb_dns_name": NLB_DNS,
        "target_group_arn": TG_ARN,
        "endpoint_service_id": SVC,
        "endpoint_service_name": SVC_NAME,
        "endpoint_id": VPCE,
        "endpoint_regional_dns_name": REGIONAL,
        "endpoint_zonal_dns_names": dict(ZONAL),
        "endpoint_eni_ids": [ENI_A, ENI_C],
        "endpoint_security_group_id": ENDPOINT_SG,
        "provider_instance_ids": [TARGET_A, TARGET_C],
        "provider_instance_private_ips": list(TARGET_IPS.values()),
        "consumer_client_instance_id": CLIENT,
        "consumer_client_private_ip": CLIENT_IP,
        "listener_port": LISTENER_PORT,
        "target_port": TARGET_PORT,
    }
