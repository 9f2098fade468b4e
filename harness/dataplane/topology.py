"""What is deployed, as read from the control plane's AWS APIs (EC2, ELBv2).

The data plane and the checks both work from a :class:`Topology`; neither reads Terraform
files. ``read_topology`` (in :mod:`harness.dataplane.inventory`) builds one from boto3
clients, so the same code reads LocalStack and a real AWS account.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    cidr: str
    az: str

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


@dataclass(frozen=True)
class SecurityGroupRule:
    """One ingress or egress permission: protocol ``-1`` means all, ports inclusive."""

    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...] = ()
    source_groups: tuple[str, ...] = ()


# VPC user guide, "Security groups": a new security group allows all outbound traffic.
ALLOW_ALL_EGRESS = SecurityGroupRule("-1", -1, -1, cidrs=("0.0.0.0/0",))


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    vpc_id: str
    name: str
    ingress: tuple[SecurityGroupRule, ...] = ()
    egress: tuple[SecurityGroupRule, ...] = (ALLOW_ALL_EGRESS,)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    vpc_id: str
    subnet_id: str
    private_ip: str
    state: str
    security_groups: tuple[str, ...] = ()
    # JERP_PROXY_PROTOCOL as the instance's user data sets it for JERP ("" when it does not).
    jerp_proxy_protocol: str = ""


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    cidr: str
    name: str
    subnets: tuple[Subnet, ...] = ()

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def router_ip(self) -> str:
        """The implicit router: base + 1."""
        return str(self.network.network_address + 1)

    @property
    def resolver_ip(self) -> str:
        """The Amazon-provided DNS resolver: base + 2 (the seed's ``Server: 10.10.0.2``)."""
        return str(self.network.network_address + 2)


@dataclass(frozen=True)
class Target:
    target_id: str
    port: int
    health: str  # initial | healthy | unhealthy | unused | draining


@dataclass(frozen=True)
class HealthCheck:
    protocol: str  # HTTP | TCP
    path: str
    port: str  # "traffic-port" or a number
    interval_s: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str = "200-399"  # HTTP codes counted healthy (the NLB default)


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    protocol: str
    port: int
    health_check: HealthCheck
    targets: tuple[Target, ...] = ()
    proxy_protocol_v2: bool = False
    # `load_balancing.cross_zone.enabled`: "true" | "false" | "use_load_balancer_configuration"
    cross_zone: str = "use_load_balancer_configuration"
    # Every attribute as DescribeTargetGroupAttributes returns it (key, value).
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Listener:
    arn: str
    protocol: str
    port: int
    target_group_arn: str


@dataclass(frozen=True)
class LoadBalancerNode:
    """One NLB node: its private address in one enabled AZ's subnet."""

    az: str
    subnet_id: str
    private_ip: str


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    lb_type: str
    vpc_id: str
    state: str
    nodes: tuple[LoadBalancerNode, ...] = ()
    listeners: tuple[Listener, ...] = ()
    security_groups: tuple[str, ...] = ()
    cross_zone: bool = False
    # EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: AWS's default is on.
    enforce_sg_on_privatelink: bool = True


@dataclass(frozen=True)
class EndpointService:
    service_id: str
    service_name: str
    state: str
    load_balancer_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointInterface:
    """One endpoint ENI: an address in one consumer subnet."""

    eni_id: str
    subnet_id: str
    az: str
    private_ip: str


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    vpc_id: str
    service_name: str
    state: str  # pendingAcceptance | available | rejected | deleted ...
    regional_dns: str
    zonal_dns: tuple[tuple[str, str], ...] = ()  # (az, name)
    interfaces: tuple[EndpointInterface, ...] = ()
    security_groups: tuple[str, ...] = ()
    private_dns_enabled: bool = False
    # The service's private DNS name and its verification state as the endpoint's own account
    # sees them (DescribeVpcEndpointServices: PrivateDnsName, PrivateDnsNameVerificationState).
    private_dns_name: str = ""
    private_dns_state: str = ""  # pendingVerification | verified | failed

    @property
    def private_dns_in_use(self) -> bool:
        """Whether the endpoint's VPC resolves the service's private DNS name through it.

        PL/manage-dns-names.html: with private DNS enabled on the endpoint, AWS associates a
        private hosted zone for the name with the consumer VPC; EC2 API
        PrivateDnsNameConfiguration: consumers can use the name only once it is ``verified``.
        """
        return (
            self.private_dns_enabled
            and bool(self.private_dns_name)
            and self.private_dns_state == "verified"
        )


@dataclass(frozen=True)
class Topology:
    region: str
    vpcs: tuple[Vpc, ...] = ()
    instances: tuple[Instance, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    endpoint_services: tuple[EndpointService, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()

    def vpc(self, vpc_id: str) -> Vpc:
        for vpc in self.vpcs:
            if vpc.vpc_id == vpc_id:
                return vpc
        raise KeyError(vpc_id)

    def subnet(self, subnet_id: str) -> Subnet:
        for vpc in self.vpcs:
            for subnet in vpc.subnets:
                if subnet.subnet_id == subnet_id:
                    return subnet
        raise KeyError(subnet_id)

    def instance(self, ref: str) -> Instance:
        """An instance by id or by Name tag, the way a user names a host."""
        for inst in self.instances:
            if ref in (inst.instance_id, inst.name):
                return inst
        raise KeyError(ref)
