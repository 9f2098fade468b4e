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
from harness.dataplane.haproxy import HealthCheckSpec, ProxySpec, ServerSpec
from harness.dataplane.hosts import JerpSpec
from harness.dataplane.netns import (
    HostSpec,
    RouterSpec,
    short_hash,
)
from harness.dataplane.topology import (
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


def router_namespace(env_id: str, vpc_id: str) -> str:
    return f"{env_id}-{vpc_id}"


def host_namespace(env_id: str, ref: str) -> str:
    return f"{env_id}-{ref}"


def node_namespace(env_id: str, lb: LoadBalancer, az: str) -> str:
    return f"{env_id}-nlb-{short_hash(lb.arn)}-{az}"


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
        self.node_servers: dict[tuple[str, str, int], int] = {}  # (lb, az, port) -> targets
        self.tgs = {tg.arn: tg for tg in topology.target_groups}

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
            proxies=tuple(self.proxies),
            jerps=jerps,
            node_targets=self.node_targets,
            invalid_targets={arn: tuple(items) for arn, items in self.invalid.items()},
            warnings=tuple(self.warnings),
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
            rules: list[SecurityGroupRule] = []
            for group_id in group_ids:
                if group_id in groups:
                    rules += groups[group_id].ingress
            rulesets[namespace] = render_ruleset(_resolve_rules(rules, self.members))
        return rulesets

    def _serving_targets(self, tg: TargetGroup) -> list[tuple[Instance, int]]:
        """The running targets of ``tg``; stopped ones are recorded as InvalidState."""
        by_ip = {i.private_ip: i for i in self.instances.values()}
        serving = []
        for target in tg.targets:
            member = self.instances.get(target.target_id) or by_ip.get(target.target_id)
            if member is None:
                continue
            port = target.port or tg.port
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
            for listener in lb.listeners:
                tg = self.tgs.get(listener.target_group_arn)
                if tg is None:
                    continue
                targets = self._serving_targets(tg)
                for (lb_arn, az), node in sorted(self.node_hosts.items()):
                    if lb_arn != lb.arn:
                        continue
                    name = f"nlb-{short_hash(lb.arn)}-{az}-{listener.port}"
                    refs: dict[str, TargetRef] = {}
                    servers: list[ServerSpec] = []
                    for member, port in targets:
                        if not lb.cross_zone and subnet_az.get(member.subnet_id) != az:
                            continue
                        server = f"{member.instance_id}-{port}"
                        servers.append(ServerSpec(server, member.private_ip, port, node.namespace))
                        refs[server] = TargetRef(tg.arn, member.instance_id, port)
                    self.proxies.append(
                        ProxySpec(
                            name,
                            node.ip,
                            listener.port,
                            node.namespace,
                            tuple(servers),
                            _check_spec(tg.health_check),
                        )
                    )
                    self.node_targets[name] = refs
                    self.node_servers[(lb.arn, az, listener.port)] = len(servers)

    def _endpoint_listeners(self) -> None:
        """Only an available connection carries traffic: ENI -> same-AZ node, others backup."""
        services = {svc.service_name: svc for svc in self.topology.endpoint_services}
        lbs = {lb.arn: lb for lb in self.topology.load_balancers}
        for ep in self.topology.endpoints:
            svc = services.get(ep.service_name)
            if ep.state.lower() != "available" or svc is None:
                continue
            for lb_arn in svc.load_balancer_arns:
                lb = lbs.get(lb_arn)
                if lb is None:
                    continue
                nodes = [
                    (az, h) for (arn, az), h in sorted(self.node_hosts.items()) if arn == lb_arn
                ]
                for listener in lb.listeners:
                    tg = self.tgs.get(listener.target_group_arn)
                    check = _check_spec(tg.health_check) if tg else None
                    if check is not None and check.port is not None:
                        # The node forwards only its listener port; check through that.
                        check = HealthCheckSpec(
                            check.path, check.interval_s, check.rise, check.fall
                        )
                    # A node with no target behind it (deregistered, stopped) is no route:
                    # the ENI goes to the other AZs at once instead of after failed checks.
                    serving = [
                        (az, node)
                        for az, node in nodes
                        if self.node_servers.get((lb_arn, az, listener.port))
                    ] or nodes
                    for eni_az, eni in self.eni_hosts.get(ep.endpoint_id, []):
                        has_own_az = any(az == eni_az for az, _ in serving)
                        servers = tuple(
                            ServerSpec(
                                f"node-{az}",
                                node.ip,
                                listener.port,
                                node.namespace,
                                backup=has_own_az and az != eni_az,
                            )
                            for az, node in serving
                        )
                        self.proxies.append(
                            ProxySpec(
                                f"vpce-{eni.ref}-{listener.port}",
                                eni.ip,
                                listener.port,
                                eni.namespace,
                                servers,
                                check,
                            )
                        )

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
                dns.setdefault(ep.regional_dns, set()).update(h.ip for _, h in placed)
            for az, name in ep.zonal_dns:
                ips = {h.ip for eni_az, h in placed if eni_az == az}
                if ips:
                    dns.setdefault(name, set()).update(ips)
        return {name: tuple(sorted(ips)) for name, ips in dns.items() if ips}
