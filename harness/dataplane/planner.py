"""Planning: the desired namespaces, rulesets, listeners and DNS for a topology.

Pure: no root, no processes. ``plan(topology, env_id)`` places every instance, NLB node and
endpoint ENI in its own namespace and decides what HAProxy, dnsmasq and nftables must hold.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.dataplane.firewall import IngressRule, render_ruleset
from harness.dataplane.forwarder import KernelRoute
from harness.dataplane.haproxy import NODE_UNIQUE_ID, HealthCheckSpec, ProxySpec, ServerSpec
from harness.dataplane.hosts import JerpSpec
from harness.dataplane.netns import (
    HostSpec,
    RouterSpec,
    short_hash,
)
from harness.dataplane.ppv2 import RelayRoute
from harness.dataplane.topology import (
    Endpoint,
    HealthCheck,
    Instance,
    LoadBalancer,
    SecurityGroupRule,
    TargetGroup,
    Topology,
)

DEFAULT_PREFIX = "jp"
_RUNNING = "running"
_INSTANCE_GONE = ("terminated", "shutting-down")
_INSTANCE_STOPPED = ("stopped", "stopping")
_ENDPOINT_GONE = ("deleted", "deleting", "failed")
# NLB/edit-target-group-attributes.html#deregistration-delay: no new flows to a draining
# target; its open flows stay on the HAProxy worker that has them.
_NO_NEW_FLOWS = ("draining",)
# Inside a node's namespace: PrivateLink traffic arrives here (PROXY v2 from the ENI
# listener) and proxy-protocol targets are reached through the relay's ports.
NODE_LOOPBACK = "127.0.0.1"
RELAY_FIRST_PORT = 40000
# What judges the flows a host forwards in the kernel (harness.dataplane.forwarder): an
# endpoint ENI's inbound rules, as if the flow ended there; an NLB node's outbound rules, as
# if it opened the flow to the target itself.
_FORWARDS = {"endpoint-eni": "ingress", "nlb-node": "egress"}


def new_env_id(prefix: str = DEFAULT_PREFIX) -> str:
    return prefix + secrets.token_hex(2)


# --------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class TargetRef:
    """Which target group target a HAProxy server of an NLB node stands for."""

    target_group_arn: str
    instance_id: str
    port: int


@dataclass(frozen=True)
class DesiredState:
    routers: Mapping[str, RouterSpec]  # namespace -> spec
    hosts: Mapping[str, HostSpec]  # namespace -> spec
    rulesets: Mapping[str, str]  # namespace -> nft script
    dns: Mapping[str, tuple[str, ...]]  # name -> addresses (every VPC resolver serves all)
    proxies: tuple[ProxySpec, ...]
    jerps: Mapping[str, JerpSpec]  # instance id -> spec
    # proxy name -> (server name -> target) for the NLB node listeners
    node_targets: Mapping[str, Mapping[str, TargetRef]] = field(default_factory=dict)
    # target group arn -> (instance id, port, reason, description) it cannot serve from
    invalid_targets: Mapping[str, tuple[tuple[str, int, str, str], ...]] = field(
        default_factory=dict
    )
    # Control-plane data the data plane cannot honour (reported as problems, never hidden).
    warnings: tuple[str, ...] = ()
    # NLB node namespace -> the PROXY v2 relay's routes (target groups with proxy protocol)
    relays: Mapping[str, tuple[RelayRoute, ...]] = field(default_factory=dict)
    # router namespace -> names only that VPC's resolver serves (the private DNS names of its
    # endpoints); a name may be a wildcard, ``*.example.com``
    vpc_dns: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # Endpoint ENI listeners the kernel forwards (harness.dataplane.forwarder); listeners of
    # proxy-protocol target groups stay HAProxy listeners in ``proxies``.
    kernel_routes: tuple[KernelRoute, ...] = ()

    def dns_for(self, router_ns: str) -> dict[str, tuple[str, ...]]:
        """What the resolver of the VPC behind ``router_ns`` answers."""
        return {**self.dns, **self.vpc_dns.get(router_ns, {})}


def router_namespace(env_id: str, vpc_id: str) -> str:
    return f"{env_id}-{vpc_id}"


def host_namespace(env_id: str, ref: str) -> str:
    return f"{env_id}-{ref}"


def node_namespace(env_id: str, lb: LoadBalancer, az: str) -> str:
    return f"{env_id}-nlb-{short_hash(lb.arn)}-{az}"


def node_proxy_name(lb: LoadBalancer, az: str, port: int) -> str:
    """The HAProxy listener of the NLB node in ``az`` for listener ``port``."""
    return f"nlb-{short_hash(lb.arn)}-{az}-{port}"


def _check_spec(hc: HealthCheck) -> HealthCheckSpec:
    path = hc.path if hc.protocol.upper() in ("HTTP", "HTTPS") else None
    port = None if hc.port in ("", "traffic-port") else int(hc.port)
    return HealthCheckSpec(
        path=path or None,
        interval_s=max(1, hc.interval_s),
        rise=max(1, hc.healthy_threshold),
        fall=max(1, hc.unhealthy_threshold),
        port=port,
        matcher=hc.matcher or "200-399",
    )


def _cross_zone(lb: LoadBalancer, tg: TargetGroup) -> bool:
    """NLB/target-group-cross-zone.html: the target group's setting wins unless it defers."""
    if tg.cross_zone in ("true", "false"):
        return tg.cross_zone == "true"
    return lb.cross_zone


def _admits(rule: IngressRule, port: int) -> bool:
    proto = rule.protocol.lower()
    if proto in ("-1", "all"):
        return True
    if proto not in ("tcp", "6"):
        return False
    return rule.from_port < 0 or rule.from_port <= port <= rule.to_port


def _resolve_rules(
    rules: Iterable[SecurityGroupRule], members: Mapping[str, list[str]]
) -> list[IngressRule]:
    resolved = []
    for rule in rules:
        sources = list(rule.cidrs)
        for group in rule.source_groups:
            sources += [f"{ip}/32" for ip in members.get(group, [])]
        resolved.append(IngressRule(rule.protocol, rule.from_port, rule.to_port, tuple(sources)))
    return resolved


def plan(
    topology: Topology, env_id: str, node_up: Mapping[str, bool] | None = None
) -> DesiredState:
    """What the namespaces should look like for ``topology``.

    ``node_up`` maps an NLB node namespace to whether HAProxy sees a healthy target behind it;
    a node without one leaves its load balancer's DNS name (unless no node has one: then DNS
    fails open and lists every node, as AWS does).
    """
    return _Planner(topology, env_id, node_up or {}).plan()


class _Planner:
    """One planning pass; each step reads what the previous ones placed."""

    def __init__(self, topology: Topology, env_id: str, node_up: Mapping[str, bool]) -> None:
        self.topology = topology
        self.env_id = env_id
        self.node_up = node_up
        self.warnings: list[str] = []
        self.hosts: dict[str, HostSpec] = {}
        self.routers = {
            vpc.vpc_id: RouterSpec(
                namespace=router_namespace(env_id, vpc.vpc_id),
                bridge=f"{env_id}br",
                cidr=vpc.cidr,
                router_ip=vpc.router_ip,
                resolver_ip=vpc.resolver_ip,
            )
            for vpc in topology.vpcs
        }
        # Security group membership (for source-group rules) and each host's groups.
        self.members: dict[str, list[str]] = {}
        self.host_groups: dict[str, tuple[str, ...]] = {}
        self.instances: dict[str, Instance] = {}
        self.node_hosts: dict[tuple[str, str], HostSpec] = {}  # (lb arn, az) -> host
        self.eni_hosts: dict[str, list[tuple[str, HostSpec]]] = {}  # endpoint -> [(az, host)]
        self.proxies: list[ProxySpec] = []
        self.node_targets: dict[str, dict[str, TargetRef]] = {}
        self.invalid: dict[str, list[tuple[str, int, str, str]]] = {}
        self.jerp_ports: dict[str, int] = {}
        self.tgs = {tg.arn: tg for tg in topology.target_groups}
        self.relays: dict[str, list[RelayRoute]] = {}
        self.kernel_routes: list[KernelRoute] = []

    def plan(self) -> DesiredState:
        self._place_instances()
        self._place_nlb_nodes()
        self._place_endpoint_enis()
        rulesets = self._rulesets()
        self._nlb_listeners()
        self._endpoint_listeners()
        jerps = {
            instance_id: JerpSpec(
                instance_id,
                host_namespace(self.env_id, instance_id),
                self.instances[instance_id].private_ip,
                port,
                self.instances[instance_id].jerp_proxy_protocol,
            )
            for instance_id, port in self.jerp_ports.items()
        }
        # A VPC without hosts (such as the default VPC) needs no bridge and no resolver.
        used = {h.router_namespace for h in self.hosts.values()}
        return DesiredState(
            routers={r.namespace: r for r in self.routers.values() if r.namespace in used},
            hosts=self.hosts,
            rulesets=rulesets,
            dns=self._dns(),
            vpc_dns=self._private_dns(),
            proxies=tuple(self.proxies),
            jerps=jerps,
            node_targets=self.node_targets,
            invalid_targets={arn: tuple(items) for arn, items in self.invalid.items()},
            warnings=tuple(self.warnings),
            relays={ns: tuple(routes) for ns, routes in self.relays.items()},
            kernel_routes=tuple(self.kernel_routes),
        )

    def _add_host(
        self, namespace: str, kind: str, ref: str, subnet_id: str, ip: str, groups: tuple[str, ...]
    ) -> HostSpec | None:
        try:
            subnet = self.topology.subnet(subnet_id)
        except KeyError:
            return None
        router = self.routers.get(subnet.vpc_id)
        if router is None or not ip:
            return None
        if ipaddress.IPv4Address(ip) not in subnet.network:
            self.warnings.append(
                f"{kind} {ref} has address {ip} outside its subnet {subnet.subnet_id} "
                f"({subnet.cidr}); the control plane allocated it wrongly "
                "(locally: is LocalStack running with the JERP PrivateLink plug-in?)"
            )
            return None
        host = HostSpec(
            namespace=namespace,
            kind=kind,
            ref=ref,
            vpc_id=subnet.vpc_id,
            router_namespace=router.namespace,
            ip=ip,
            prefixlen=subnet.network.prefixlen,
            vpc_cidr=router.cidr,
            router_ip=router.router_ip,
            resolver_ip=router.resolver_ip,
        )
        self.hosts[namespace] = host
        if groups:
            self.host_groups[namespace] = groups
        for group in groups:
            self.members.setdefault(group, []).append(ip)
        return host

    def _place_instances(self) -> None:
        for inst in self.topology.instances:
            if inst.state in _INSTANCE_GONE:
                continue
            namespace = host_namespace(self.env_id, inst.instance_id)
            if self._add_host(
                namespace,
                "instance",
                inst.instance_id,
                inst.subnet_id,
                inst.private_ip,
                inst.security_groups,
            ):
                self.instances[inst.instance_id] = inst
                # An instance has a security group even when it lists none: deny by default.
                self.host_groups.setdefault(namespace, ())

    def _place_nlb_nodes(self) -> None:
        for lb in self.topology.load_balancers:
            if lb.lb_type != "network":
                continue
            for node in lb.nodes:
                host = self._add_host(
                    node_namespace(self.env_id, lb, node.az),
                    "nlb-node",
                    f"{lb.name}/{node.az}",
                    node.subnet_id,
                    node.private_ip,
                    lb.security_groups,
                )
                if host is not None:
                    self.node_hosts[(lb.arn, node.az)] = host

    def _place_endpoint_enis(self) -> None:
        for ep in self.topology.endpoints:
            if ep.state.lower() in _ENDPOINT_GONE:
                continue
            for eni in ep.interfaces:
                host = self._add_host(
                    host_namespace(self.env_id, eni.eni_id),
                    "endpoint-eni",
                    eni.eni_id,
                    eni.subnet_id,
                    eni.private_ip,
                    ep.security_groups,
                )
                if host is not None:
                    self.eni_hosts.setdefault(ep.endpoint_id, []).append((eni.az, host))

    def _rulesets(self) -> dict[str, str]:
        groups = {sg.group_id: sg for sg in self.topology.security_groups}
        rulesets: dict[str, str] = {}
        for namespace, group_ids in sorted(self.host_groups.items()):
            ingress: list[SecurityGroupRule] = []
            egress: list[SecurityGroupRule] = []
            for group_id in group_ids:
                if group_id in groups:
                    ingress += groups[group_id].ingress
                    egress += groups[group_id].egress
            rulesets[namespace] = render_ruleset(
                _resolve_rules(ingress, self.members),
                # A host listing no group (hand-made topologies only; on AWS every instance
                # has one) keeps outbound open.
                _resolve_rules(egress, self.members) if group_ids else None,
                self.hosts[namespace].resolver_ip,
                forward=_FORWARDS.get(self.hosts[namespace].kind),
            )
        return rulesets

    def _privatelink_allow(self, lb: LoadBalancer, port: int) -> tuple[str, ...] | None:
        """Sources the NLB's security groups admit on ``port`` for PrivateLink traffic.

        NLB/load-balancer-security-groups.html (Considerations): with the inbound rules
        enforced on PrivateLink traffic, the source they see is the client's private address,
        not the endpoint ENI's; with the setting off, or no groups, nothing is evaluated.
        """
        if not lb.security_groups or not lb.enforce_sg_on_privatelink:
            return None
        groups = {sg.group_id: sg for sg in self.topology.security_groups}
        rules = [r for g in lb.security_groups if g in groups for r in groups[g].ingress]
        allowed = [
            source
            for rule in _resolve_rules(rules, self.members)
            if _admits(rule, port)
            for source in rule.sources
        ]
        return tuple(sorted(set(allowed)))

    def _serving_targets(self, tg: TargetGroup) -> list[tuple[Instance, int]]:
        """The running targets of ``tg``; stopped ones are recorded as InvalidState."""
        by_ip = {i.private_ip: i for i in self.instances.values()}
        serving = []
        for target in tg.targets:
            member = self.instances.get(target.target_id) or by_ip.get(target.target_id)
            if member is None:
                continue
            port = target.port or tg.port
            if target.health in _NO_NEW_FLOWS:
                if member.state == _RUNNING:  # JERP keeps serving the open flows
                    self.jerp_ports.setdefault(member.instance_id, port)
                continue
            if member.state in _INSTANCE_STOPPED:
                self.invalid.setdefault(tg.arn, []).append(
                    (
                        member.instance_id,
                        port,
                        "Target.InvalidState",
                        f"Target is in the {member.state} state",
                    )
                )
            elif member.state == _RUNNING:
                serving.append((member, port))
                self.jerp_ports.setdefault(member.instance_id, port)
            # pending: no traffic yet, its health stays "initial"
        return serving

    def _nlb_listeners(self) -> None:
        """Per node and listener: forward to the node's targets (its AZ's, unless cross-zone)."""
        subnet_az = {s.subnet_id: s.az for v in self.topology.vpcs for s in v.subnets}
        for lb in self.topology.load_balancers:
            listener_ports = {listener.port for listener in lb.listeners}
            for listener in lb.listeners:
                tg = self.tgs.get(listener.target_group_arn)
                if tg is None:
                    continue
                targets = self._serving_targets(tg)
                cross_zone = _cross_zone(lb, tg)
                for (lb_arn, az), node in sorted(self.node_hosts.items()):
                    if lb_arn != lb.arn:
                        continue
                    name = node_proxy_name(lb, az, listener.port)
                    refs: dict[str, TargetRef] = {}
                    servers: list[ServerSpec] = []
                    for member, port in targets:
                        if not cross_zone and subnet_az.get(member.subnet_id) != az:
                            continue
                        server = f"{member.instance_id}-{port}"
                        servers.append(
                            self._server(server, member.private_ip, port, node, tg, listener_ports)
                        )
                        refs[server] = TargetRef(tg.arn, member.instance_id, port)
                    self.proxies.append(
                        ProxySpec(
                            name,
                            node.ip,
                            listener.port,
                            node.namespace,
                            tuple(servers),
                            _check_spec(tg.health_check),
                            privatelink_bind=(NODE_LOOPBACK, listener.port),
                            privatelink_allow=self._privatelink_allow(lb, listener.port),
                            unique_id=NODE_UNIQUE_ID if tg.proxy_protocol_v2 else None,
                        )
                    )
                    self.node_targets[name] = refs

    def _server(
        self,
        name: str,
        ip: str,
        port: int,
        node: HostSpec,
        tg: TargetGroup,
        listener_ports: set[int],
    ) -> ServerSpec:
        """A node's server for one target; with proxy protocol, through the node's relay."""
        if not tg.proxy_protocol_v2:
            return ServerSpec(name, ip, port, node.namespace)
        routes = self.relays.setdefault(node.namespace, [])
        relay_port = max((r.listen[1] for r in routes), default=RELAY_FIRST_PORT - 1) + 1
        while relay_port in listener_ports:  # the node's loopback binds use those
            relay_port += 1
        routes.append(RelayRoute((NODE_LOOPBACK, relay_port), (ip, port)))
        return ServerSpec(
            name,
            NODE_LOOPBACK,
            relay_port,
            node.namespace,
            send_proxy=True,
            check_address=(ip, port),
        )

    def _endpoint_listeners(self) -> None:
        """Only an available connection carries traffic, from each ENI to its own AZ's node.

        PL/privatelink-share-your-services.html: the endpoint ENI in an AZ sends to the load
        balancer node in that AZ; a node without a healthy target behind it fails those
        connections, as on AWS with cross-zone off. The kernel forwards the flows
        (:mod:`harness.dataplane.forwarder`); for a target group with proxy protocol v2 the
        ENI's HAProxy listener hands the consumer's address and the endpoint id to the node in
        a PROXY v2 header (the node's loopback bind) instead.
        """
        services = {svc.service_name: svc for svc in self.topology.endpoint_services}
        lbs = {lb.arn: lb for lb in self.topology.load_balancers}
        for ep in self.topology.endpoints:
            svc = services.get(ep.service_name)
            available = ep.state.lower() == "available"
            if svc is None or ep.state.lower() in _ENDPOINT_GONE:
                continue
            for lb_arn in svc.load_balancer_arns:
                lb = lbs.get(lb_arn)
                if lb is None:
                    continue
                for listener in lb.listeners:
                    tg = self.tgs.get(listener.target_group_arn)
                    for eni_az, eni in self.eni_hosts.get(ep.endpoint_id, []):
                        node = self.node_hosts.get((lb_arn, eni_az))
                        if tg is not None and not tg.proxy_protocol_v2:
                            # Linked while pending too, closed until available: accepting
                            # 100 endpoints then changes only their nodes' tables.
                            if node is not None:
                                self.kernel_routes.append(
                                    KernelRoute(
                                        eni.namespace,
                                        eni.ip,
                                        node.namespace,
                                        node.ip,
                                        listener.port,
                                        node_proxy_name(lb, eni_az, listener.port),
                                        self._privatelink_allow(lb, listener.port),
                                        open=available,
                                    )
                                )
                            continue
                        if not available:
                            continue
                        servers = (
                            (
                                ServerSpec(
                                    f"node-{eni_az}",
                                    NODE_LOOPBACK,
                                    listener.port,
                                    node.namespace,
                                    send_proxy=True,
                                ),
                            )
                            if node is not None
                            else ()
                        )
                        self.proxies.append(
                            ProxySpec(
                                f"vpce-{eni.ref}-{listener.port}",
                                eni.ip,
                                listener.port,
                                eni.namespace,
                                servers,
                                unique_id=ep.endpoint_id,
                            )
                        )

    def _az_up(self, service_name: str, az: str) -> bool:
        """Whether the service's NLB node in ``az`` has a healthy target (unknown: yes)."""
        services = {svc.service_name: svc for svc in self.topology.endpoint_services}
        svc = services.get(service_name)
        for lb_arn in svc.load_balancer_arns if svc else ():
            node = self.node_hosts.get((lb_arn, az))
            if node is not None and self.node_up.get(node.namespace, True):
                return True
        return False

    def _dns(self) -> dict[str, tuple[str, ...]]:
        """The NLB name -> nodes with healthy targets; endpoint names -> ENIs."""
        dns: dict[str, set[str]] = {}
        for lb in self.topology.load_balancers:
            if not lb.dns_name:
                continue
            nodes = [(az, h) for (arn, az), h in sorted(self.node_hosts.items()) if arn == lb.arn]
            healthy = [h.ip for _, h in nodes if self.node_up.get(h.namespace, True)]
            dns[lb.dns_name] = set(healthy or [h.ip for _, h in nodes])
            for az, h in nodes:
                dns[f"{az}.{lb.dns_name}"] = {h.ip}
        for ep in self.topology.endpoints:
            placed = self.eni_hosts.get(ep.endpoint_id, [])
            if placed and ep.regional_dns:
                dns.setdefault(ep.regional_dns, set()).update(self._regional_addresses(ep))
            for az, name in ep.zonal_dns:
                ips = {h.ip for eni_az, h in placed if eni_az == az}
                if ips:
                    dns.setdefault(name, set()).update(ips)
        return {name: tuple(sorted(ips)) for name, ips in dns.items() if ips}

    def _regional_addresses(self, ep: Endpoint) -> set[str]:
        """The ENIs the regional name lists: those whose AZ's NLB node has a healthy target
        (all of them when none has: fail open); the zonal names keep theirs. AWS answer on
        re:Post: "It does health checking to ensure only healthy ENIs are returned"
        (repost.aws/questions/QUupiKY7qBQ4Gd8P58sFmm_A)."""
        placed = self.eni_hosts.get(ep.endpoint_id, [])
        healthy = {h.ip for az, h in placed if self._az_up(ep.service_name, az)}
        return healthy or {h.ip for _, h in placed}

    def _private_dns(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Per consumer VPC: its endpoints' verified private DNS names -> the regional name's
        addresses.

        PL/manage-dns-names.html (Considerations): for an endpoint with private DNS enabled,
        AWS creates a private hosted zone associated with the consumer VPC only, with a CNAME
        from the private name to the endpoint's regional name; other VPCs (the provider's
        included) do not resolve it through the endpoint. A wildcard name keeps Route 53's
        meaning (Route53/DomainNameFormat.html: ``*.example.com`` answers every name under
        example.com, not example.com itself); the resolver implements that.
        """
        names: dict[str, dict[str, set[str]]] = {}
        for ep in self.topology.endpoints:
            router = self.routers.get(ep.vpc_id)
            if not ep.private_dns_in_use or router is None:
                continue
            addresses = self._regional_addresses(ep)
            if addresses:
                names.setdefault(router.namespace, {}).setdefault(
                    ep.private_dns_name, set()
                ).update(addresses)
        return {
            ns: {name: tuple(sorted(ips)) for name, ips in by_name.items()}
            for ns, by_name in names.items()
        }
