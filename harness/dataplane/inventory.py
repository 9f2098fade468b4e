"""Read what is deployed from the control plane's AWS APIs (EC2, ELBv2) into a Topology.

Only documented AWS shapes are used, so the same reader serves LocalStack and a real
account: NLB nodes are the ENIs described ``ELB net/<name>/<id>``, endpoint ENIs are the
endpoint's ``NetworkInterfaceIds``, target health is ``DescribeTargetHealth``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from botocore.client import BaseClient

from harness.controlplane.aws import AwsClients
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
from harness.errors import HarnessError, LocalStackError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


def _pages(client: BaseClient, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    else:
        yield from getattr(client, operation)(**kwargs).get(key, [])


# DescribeNetworkInterfaces takes at most 200 values per filter (EC2 API, "Filter").
_FILTER_VALUES_MAX = 200


def _endpoint_enis(
    ec2: BaseClient, endpoints: list[dict[str, Any]], known: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The ENIs of the endpoints that are not going away, by id.

    Only those not in ``known`` are asked for (and added to it): an ENI's subnet, zone and
    primary address are fixed for its life, and describing 100 of them again costs LocalStack
    as much as describing the endpoints. Asked in one call per 200: a read per endpoint made a
    topology read of 100 endpoints take seconds. A filter, not NetworkInterfaceIds: an ENI
    removed in the meantime is left out instead of failing the whole read.
    """
    wanted = [
        eni_id
        for ep in endpoints
        if str(ep.get("State", "")).lower() not in ("deleted", "deleting")
        for eni_id in ep.get("NetworkInterfaceIds") or []
    ]
    missing = [eni_id for eni_id in wanted if eni_id not in known]
    for start in range(0, len(missing), _FILTER_VALUES_MAX):
        chunk = missing[start : start + _FILTER_VALUES_MAX]
        for eni in _pages(
            ec2,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "network-interface-id", "Values": chunk}],
        ):
            known[eni["NetworkInterfaceId"]] = eni
    return {eni_id: known[eni_id] for eni_id in wanted if eni_id in known}


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


def _rule(perm: dict[str, Any]) -> SecurityGroupRule:
    protocol = str(perm.get("IpProtocol", "-1"))
    return SecurityGroupRule(
        protocol=protocol,
        from_port=int(perm.get("FromPort", -1) if protocol != "-1" else -1),
        to_port=int(perm.get("ToPort", -1) if protocol != "-1" else -1),
        cidrs=tuple(r["CidrIp"] for r in perm.get("IpRanges") or [] if r.get("CidrIp")),
        source_groups=tuple(
            g["GroupId"] for g in perm.get("UserIdGroupPairs") or [] if g.get("GroupId")
        ),
    )


def read_topology(clients: AwsClients) -> Topology:
    """Everything the data plane and the checks need, in one pass over the APIs."""
    with TopologyReader(clients) as reader:
        return reader.read()


# The changes, as the plug-in's change notice names them, that touch one part of the topology
# only, and that part. After nothing but such changes a reader asks for those parts alone: a
# whole read of 100 consumer VPCs costs LocalStack most of a second, the endpoints alone a
# fraction. Any change not named here means a whole read.
_PART_OF_CHANGE = {
    "AcceptVpcEndpointConnections": "endpoints",
    "RejectVpcEndpointConnections": "endpoints",
    "VpcEndpointAvailable": "endpoints",
    "AuthorizeSecurityGroupIngress": "security_groups",
    "AuthorizeSecurityGroupEgress": "security_groups",
    "RevokeSecurityGroupIngress": "security_groups",
    "RevokeSecurityGroupEgress": "security_groups",
}


class TopologyReader:
    """Reads the topology again and again with the same clients (the daemon polls).

    ``read(changed)`` with the names of what changed since the last read (the plug-in's change
    notice) reads only the parts those changes touch, as long as the last whole read is younger
    than ``whole_every_s``; otherwise, and by default, it reads everything. A read with no
    change named (``None`` or empty: the periodic poll) reads everything too. Its threads (the
    Describe calls of one read go out at once) live as long as the reader: ``close()``, or use
    it as a context manager, when done.
    """

    def __init__(self, clients: AwsClients, whole_every_s: float = 0.0) -> None:
        self.clients = clients
        self.whole_every_s = whole_every_s
        # One pair per account the stack spans (local cross-account: the service's and the
        # consumer's); each account sees only its own resources.
        self._accounts = [(c.ec2(), c.elbv2()) for c in clients.accounts()]
        self._proxy_protocol: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(_LISTS), thread_name_prefix="read")
        # Each account's part of the last read, and when the last whole read began.
        self._parts: list[Topology] | None = None
        self._whole_at = 0.0
        # The endpoint ENIs described so far, by id (see _endpoint_enis); a whole read keeps
        # only those still in use.
        self._enis: dict[str, dict[str, Any]] = {}
        # What the last read asked for: "all", or the parts it read again (for the pass timing).
        self.last_read = ""

    def __enter__(self) -> TopologyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reader's threads; safe to call twice."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def read(self, changed: Collection[str] | None = None) -> Topology:
        """The topology; ``changed``: the names of what changed since the last read, None when
        not known, empty when none was named."""
        stale = self._stale(changed)
        try:
            return _guarded(self.clients, lambda: self._read_parts(stale))
        except BaseException:
            # The changes taken for this read are not read yet: the next read reads everything.
            self._parts = None
            raise

    def _stale(self, changed: Collection[str] | None) -> set[str] | None:
        """The parts to read again, or None for everything."""
        if (
            not changed
            or self._parts is None
            or time.monotonic() - self._whole_at >= self.whole_every_s
        ):
            return None
        parts = {_PART_OF_CHANGE.get(name) for name in changed}
        return None if None in parts else {p for p in parts if p is not None}

    def _read_parts(self, stale: set[str] | None) -> Topology:
        if stale is None or self._parts is None:
            started = time.monotonic()
            self._parts = [self._read_with_user_data(ec2, elbv2) for ec2, elbv2 in self._accounts]
            self._whole_at = started
            self.last_read = "all"
            in_use = {
                i.eni_id for part in self._parts for e in part.endpoints for i in e.interfaces
            }
            self._enis = {k: v for k, v in self._enis.items() if k in in_use}
        else:
            self._parts = [
                _read_again(self._pool, part, ec2, stale, self._enis)
                for part, (ec2, _) in zip(self._parts, self._accounts, strict=True)
            ]
            self.last_read = ",".join(sorted(stale))
        return _merge(self._parts)

    def _read_with_user_data(self, ec2: EC2Client, elbv2: ElasticLoadBalancingv2Client) -> Topology:
        part = _read(self._pool, self.clients.region, ec2, elbv2, self._enis)
        instances = tuple(
            replace(i, jerp_proxy_protocol=self._jerp_proxy_protocol(ec2, i.instance_id))
            for i in part.instances
        )
        return replace(part, instances=instances)

    def _jerp_proxy_protocol(self, ec2: EC2Client, instance_id: str) -> str:
        """JERP_PROXY_PROTOCOL as the instance's user data sets it for JERP on EC2.

        Read once per instance: user data changes only while an instance is stopped, and a
        stopped instance's JERP is restarted with it when it starts again.
        """
        if instance_id not in self._proxy_protocol:
            answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
            encoded = (answer.get("UserData") or {}).get("Value") or ""
            text = base64.b64decode(encoded).decode("utf-8", "replace") if encoded else ""
            found = re.search(r"\bJERP_PROXY_PROTOCOL=([A-Za-z0-9]+)", text)
            self._proxy_protocol[instance_id] = found.group(1) if found else ""
        return self._proxy_protocol[instance_id]


def _read_again(
    pool: ThreadPoolExecutor,
    part: Topology,
    ec2: EC2Client,
    stale: set[str],
    enis: dict[str, dict[str, Any]],
) -> Topology:
    """``part`` (one account's) with the ``stale`` parts read again, at the same time;
    ``enis``: the endpoint ENIs described so far."""
    subnet_az = {s.subnet_id: s.az for v in part.vpcs for s in v.subnets}
    endpoints = pool.submit(_read_endpoints, ec2, subnet_az, enis) if "endpoints" in stale else None
    groups = pool.submit(_read_security_groups, ec2) if "security_groups" in stale else None
    return replace(
        part,
        endpoints=endpoints.result() if endpoints else part.endpoints,
        security_groups=groups.result() if groups else part.security_groups,
    )


def _merge(parts: list[Topology]) -> Topology:
    """One topology from each account's: ids are unique across accounts, so lists add up."""
    first, *rest = parts
    return replace(
        first,
        **{
            f.name: sum((getattr(p, f.name) for p in rest), getattr(first, f.name))
            for f in fields(Topology)
            if f.name != "region"
        },
    )


def _guarded(clients: AwsClients, read: Callable[[], Topology]) -> Topology:
    try:
        return read()
    except botocore.exceptions.EndpointConnectionError as exc:
        raise LocalStackError(
            f"the control plane at {clients.endpoint_url or 'AWS'} does not answer: {exc}",
            hint="start it with `make deploy` (LocalStack is started detached)",
        ) from exc
    except botocore.exceptions.ClientError as exc:
        raise HarnessError(
            f"reading the deployed topology failed: {exc}",
            hint="is the stack deployed, and (locally) is the PrivateLink plug-in loaded?",
        ) from exc


# The independent Describe* calls of one read, asked at the same time: the control plane
# answers one while the reader parses another (a read of 100 consumer VPCs and endpoints took
# about 0.5 s one call after the other, most of it waiting for LocalStack).
_LISTS = (
    ("ec2", "describe_subnets", "Subnets"),
    ("ec2", "describe_vpcs", "Vpcs"),
    ("ec2", "describe_instances", "Reservations"),
    ("ec2", "describe_security_groups", "SecurityGroups"),
    ("elbv2", "describe_load_balancers", "LoadBalancers"),
    ("elbv2", "describe_target_groups", "TargetGroups"),
    ("ec2", "describe_vpc_endpoint_service_configurations", "ServiceConfigurations"),
    ("ec2", "describe_vpc_endpoints", "VpcEndpoints"),
)


def _listed(client: BaseClient, operation: str, key: str) -> list[dict[str, Any]]:
    return list(_pages(client, operation, key))


def _read(
    pool: ThreadPoolExecutor,
    region: str,
    ec2: EC2Client,
    elbv2: ElasticLoadBalancingv2Client,
    enis: dict[str, dict[str, Any]],
) -> Topology:
    """One account's topology; ``enis``: the endpoint ENIs described so far."""
    clients: dict[str, BaseClient] = {"ec2": ec2, "elbv2": elbv2}
    asked: dict[str, Future[list[dict[str, Any]]]] = {
        operation: pool.submit(_listed, clients[client], operation, key)
        for client, operation, key in _LISTS
    }

    def listed(operation: str) -> list[dict[str, Any]]:
        return asked[operation].result()

    interface_endpoints = _interface_endpoints(listed("describe_vpc_endpoints"))
    # Their ENIs meanwhile, while the load balancers and target groups are read here.
    endpoint_enis = pool.submit(_endpoint_enis, ec2, interface_endpoints, enis)

    subnets_by_vpc: dict[str, list[Subnet]] = {}
    for s in listed("describe_subnets"):
        subnet = Subnet(s["SubnetId"], s["VpcId"], s["CidrBlock"], s["AvailabilityZone"])
        subnets_by_vpc.setdefault(subnet.vpc_id, []).append(subnet)
    vpcs = tuple(
        Vpc(
            v["VpcId"],
            v["CidrBlock"],
            _tags(v).get("Name", ""),
            tuple(sorted(subnets_by_vpc.get(v["VpcId"], []), key=lambda s: s.cidr)),
        )
        for v in listed("describe_vpcs")
    )
    subnet_az = {s.subnet_id: s.az for subs in subnets_by_vpc.values() for s in subs}

    instances = []
    for reservation in listed("describe_instances"):
        for i in reservation.get("Instances", []):
            if not i.get("SubnetId"):
                continue
            instances.append(
                Instance(
                    instance_id=i["InstanceId"],
                    name=_tags(i).get("Name", ""),
                    vpc_id=i.get("VpcId", ""),
                    subnet_id=i["SubnetId"],
                    private_ip=i.get("PrivateIpAddress", ""),
                    state=i.get("State", {}).get("Name", "unknown"),
                    security_groups=tuple(g["GroupId"] for g in i.get("SecurityGroups") or []),
                )
            )

    groups = _security_groups(listed("describe_security_groups"))

    load_balancers = []
    for lb in listed("describe_load_balancers"):
        arn = lb["LoadBalancerArn"]
        lb_type = lb.get("Type", "application")
        nodes: list[LoadBalancerNode] = []
        if lb_type == "network":
            # arn:...:loadbalancer/net/<name>/<id> -> ENI description "ELB net/<name>/<id>"
            description = "ELB " + arn.split(":loadbalancer/", 1)[-1]
            for eni in _pages(
                ec2,
                "describe_network_interfaces",
                "NetworkInterfaces",
                Filters=[{"Name": "description", "Values": [description]}],
            ):
                subnet_id = eni["SubnetId"]
                nodes.append(
                    LoadBalancerNode(
                        az=eni.get("AvailabilityZone") or subnet_az.get(subnet_id, ""),
                        subnet_id=subnet_id,
                        private_ip=eni["PrivateIpAddress"],
                    )
                )
        listeners = []
        for lst in _pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn):
            tg_arn = ""
            for action in lst.get("DefaultActions") or []:
                if action.get("Type") == "forward":
                    tg_arn = action.get("TargetGroupArn") or next(
                        (
                            t["TargetGroupArn"]
                            for t in action.get("ForwardConfig", {}).get("TargetGroups", [])
                        ),
                        "",
                    )
            listeners.append(
                Listener(lst["ListenerArn"], lst.get("Protocol", "TCP"), int(lst["Port"]), tg_arn)
            )
        attributes = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn).get(
                "Attributes", []
            )
        }
        load_balancers.append(
            LoadBalancer(
                arn=arn,
                name=lb["LoadBalancerName"],
                dns_name=lb.get("DNSName", ""),
                lb_type=lb_type,
                vpc_id=lb.get("VpcId", ""),
                state=lb.get("State", {}).get("Code", ""),
                nodes=tuple(sorted(nodes, key=lambda n: n.az)),
                listeners=tuple(sorted(listeners, key=lambda x: x.port)),
                security_groups=tuple(lb.get("SecurityGroups") or []),
                cross_zone=attributes.get("load_balancing.cross_zone.enabled") == "true",
                # Reported only once SetSecurityGroups has set it; never set means "on".
                enforce_sg_on_privatelink=str(
                    lb.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic") or "on"
                ).lower()
                != "off",
            )
        )

    target_groups = []
    for tg in listed("describe_target_groups"):
        arn = tg["TargetGroupArn"]
        health = elbv2.describe_target_health(TargetGroupArn=arn)
        targets = tuple(
            Target(
                d["Target"]["Id"],
                int(d["Target"].get("Port") or tg.get("Port") or 0),
                d.get("TargetHealth", {}).get("State", "initial"),
            )
            for d in health.get("TargetHealthDescriptions", [])
        )
        attributes = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn).get(
                "Attributes", []
            )
        }
        target_groups.append(
            TargetGroup(
                arn=arn,
                name=tg.get("TargetGroupName", ""),
                protocol=tg.get("Protocol", "TCP"),
                port=int(tg.get("Port") or 0),
                health_check=HealthCheck(
                    protocol=tg.get("HealthCheckProtocol", "TCP"),
                    path=tg.get("HealthCheckPath") or "/",
                    port=str(tg.get("HealthCheckPort", "traffic-port")),
                    interval_s=int(tg.get("HealthCheckIntervalSeconds", 30)),
                    healthy_threshold=int(tg.get("HealthyThresholdCount", 3)),
                    unhealthy_threshold=int(tg.get("UnhealthyThresholdCount", 3)),
                    matcher=(tg.get("Matcher") or {}).get("HttpCode", "200-399"),
                ),
                targets=targets,
                proxy_protocol_v2=attributes.get("proxy_protocol_v2.enabled") == "true",
                cross_zone=attributes.get(
                    "load_balancing.cross_zone.enabled", "use_load_balancer_configuration"
                ),
                attributes=tuple(sorted(attributes.items())),
            )
        )

    services = tuple(
        EndpointService(
            service_id=s["ServiceId"],
            service_name=s.get("ServiceName", ""),
            state=s.get("ServiceState", ""),
            load_balancer_arns=tuple(s.get("NetworkLoadBalancerArns") or []),
        )
        for s in listed("describe_vpc_endpoint_service_configurations")
    )

    endpoints = _endpoints(ec2, interface_endpoints, endpoint_enis.result(), subnet_az)

    return Topology(
        region=region,
        vpcs=vpcs,
        instances=tuple(instances),
        security_groups=groups,
        load_balancers=tuple(load_balancers),
        target_groups=tuple(target_groups),
        endpoint_services=services,
        endpoints=endpoints,
    )


def _security_groups(listed: list[dict[str, Any]]) -> tuple[SecurityGroup, ...]:
    return tuple(
        SecurityGroup(
            group_id=g["GroupId"],
            vpc_id=g.get("VpcId", ""),
            name=g.get("GroupName", ""),
            ingress=tuple(_rule(p) for p in g.get("IpPermissions") or []),
            egress=tuple(_rule(p) for p in g.get("IpPermissionsEgress") or []),
        )
        for g in listed
    )


def _read_security_groups(ec2: EC2Client) -> tuple[SecurityGroup, ...]:
    return _security_groups(_listed(ec2, "describe_security_groups", "SecurityGroups"))


def _interface_endpoints(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ep for ep in listed if ep.get("VpcEndpointType", "Interface") == "Interface"]


def _read_endpoints(
    ec2: EC2Client, subnet_az: dict[str, str], enis: dict[str, dict[str, Any]]
) -> tuple[Endpoint, ...]:
    """The interface endpoints alone, with their ENIs and private DNS names."""
    interface_endpoints = _interface_endpoints(
        _listed(ec2, "describe_vpc_endpoints", "VpcEndpoints")
    )
    described = _endpoint_enis(ec2, interface_endpoints, enis)
    return _endpoints(ec2, interface_endpoints, described, subnet_az)


def _endpoints(
    ec2: EC2Client,
    interface_endpoints: list[dict[str, Any]],
    enis: dict[str, dict[str, Any]],
    subnet_az: dict[str, str],
) -> tuple[Endpoint, ...]:
    endpoints = []
    for ep in interface_endpoints:
        interfaces = []
        for eni_id in ep.get("NetworkInterfaceIds") or []:
            described = enis.get(eni_id)
            if described is None:  # removed in the meantime, or the endpoint is being deleted
                continue
            subnet_id = described["SubnetId"]
            interfaces.append(
                EndpointInterface(
                    eni_id=eni_id,
                    subnet_id=subnet_id,
                    az=described.get("AvailabilityZone") or subnet_az.get(subnet_id, ""),
                    private_ip=described["PrivateIpAddress"],
                )
            )
        azs = {i.az for i in interfaces} | set(subnet_az.values())
        regional = ""
        zonal: list[tuple[str, str]] = []
        for entry in ep.get("DnsEntries") or []:
            name = entry.get("DnsName", "")
            az = next((a for a in azs if a and f"-{a}." in name), None)
            if az:
                zonal.append((az, name))
            elif not regional and ".vpce." in name:
                regional = name
        endpoints.append(
            Endpoint(
                endpoint_id=ep["VpcEndpointId"],
                vpc_id=ep.get("VpcId", ""),
                service_name=ep.get("ServiceName", ""),
                state=ep.get("State", ""),
                regional_dns=regional,
                zonal_dns=tuple(sorted(zonal)),
                interfaces=tuple(sorted(interfaces, key=lambda i: i.az)),
                security_groups=tuple(g["GroupId"] for g in ep.get("Groups") or []),
                private_dns_enabled=bool(ep.get("PrivateDnsEnabled")),
            )
        )
    return _with_private_dns_names(ec2, endpoints)


def _with_private_dns_names(ec2: EC2Client, endpoints: list[Endpoint]) -> tuple[Endpoint, ...]:
    """Each endpoint with its service's private DNS name and verification state.

    Read as the endpoint's account sees the service (DescribeVpcEndpointServices), which is
    where AWS tells a consumer whether the name is usable. A filter, not ServiceNames: a
    service deleted under a rejected endpoint is left out instead of failing the read.
    """
    wanted = sorted({ep.service_name for ep in endpoints if ep.private_dns_enabled})
    if not wanted:
        return tuple(endpoints)
    names = {
        detail["ServiceName"]: (
            str(detail.get("PrivateDnsName") or ""),
            str(detail.get("PrivateDnsNameVerificationState") or ""),
        )
        for detail in _pages(
            ec2,
            "describe_vpc_endpoint_services",
            "ServiceDetails",
            Filters=[{"Name": "service-name", "Values": wanted}],
        )
    }
    read = []
    for ep in endpoints:
        name, state = names.get(ep.service_name, ("", ""))
        read.append(replace(ep, private_dns_name=name.rstrip(".").lower(), private_dns_state=state))
    return tuple(read)
