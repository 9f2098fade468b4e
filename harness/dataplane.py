"""The local data plane: a reconciler from the control plane's AWS APIs to Linux namespaces.

``plan(topology, env_id)`` turns a :class:`~harness.topology.Topology` into the desired state
(router namespaces with bridges, one namespace per instance / NLB node / endpoint ENI,
nftables rulesets, DNS records, HAProxy listeners, JERP processes); ``plan_changes`` diffs it
against what was applied; :class:`DataPlane` applies the difference and nothing else, so
running it again with nothing changed changes nothing.

The daemon (``python -m harness.dataplane serve``) polls the control plane every
``POLL_INTERVAL_S`` seconds, reconciles, reports target health back to the control plane and
writes ``<state dir>/dataplane.json`` (namespaces per host, pids, health), which
``hostexec`` and ``status`` read. ``start_dataplane`` / ``stop_dataplane`` manage the daemon.

Every name carries an environment id (``jp`` + 4 hex), so a second environment never collides
with what a crashed first one left; start-up removes leftovers of a dead environment.

Processes are recorded as (pid, start time) pairs (``harness.processes.ProcessId``): the daemon
writes its own, so no reader guesses identity from a pid or a command line.

State file (``dataplane.json``, rewritten atomically after every pass)::

    {"pid": <daemon pid>, "daemon": {"pid": <pid>, "started": <start ticks>},
     "env_id": "jp1a2b", "started_at": <epoch>,
     "hosts": {"<instance id | ENI id | lb name/az>": {"namespace": "...", "kind":
               "instance|nlb-node|endpoint-eni", "ip": "...", "vpc_id": "...",
               "resolver": "10.x.0.2", "name": "<Name tag or empty>"}},
     "names": {"<Name tag>": "<instance id>"},
     "routers": {"<namespace>": {"cidr": ..., "router": ..., "resolver": ...}},
     "namespaces": [...],
     "processes": {"haproxy" | "dnsmasq:<ns>" | "jerp:<id>": {"pid": <pid>, "started": <ticks>}},
     "dns": {"<name>": ["<address>", ...]}, "target_health": {"<tg arn>": [<report>]},
     "converged": bool, "healthy": bool, "problems": [...], "error": str | null,
     "report_error": str | null, "reconciled_at": <epoch>, "last_changes": [...]}

Reloads: HAProxy is reloaded (master-worker, SIGUSR2) on configuration changes, so flows
unrelated to the change continue; it is restarted only when a namespace it binds in was
re-created. dnsmasq re-reads its hosts file on SIGHUP.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from harness.dnsmasq import Resolver
from harness.errors import DataPlaneError, HarnessError, WaitTimeout
from harness.firewall import IngressRule, apply_ruleset, render_ruleset
from harness.haproxy import HAProxy, HealthCheckSpec, ProxySpec, ServerSpec, ServerStatus
from harness.hosts import JerpHost, JerpSpec
from harness.lifecycle import Lifecycle, log_tail
from harness.netns import (
    HostSpec,
    RouterSpec,
    create_host,
    create_router,
    delete_namespace,
    list_namespaces,
    ns_exec,
    require_root,
    run,
    short_hash,
)
from harness.processes import ProcessId, wait_for
from harness.settings import HarnessSettings
from harness.topology import (
    HealthCheck,
    Instance,
    LoadBalancer,
    SecurityGroupRule,
    TargetGroup,
    Topology,
)

POLL_INTERVAL_S = 2.0
JERP_START_TIMEOUT_S = 20.0
STATE_FILE = "dataplane.json"
LOG_FILE = "dataplane.log"
DEFAULT_PREFIX = "jp"
_RUNNING = "running"
_INSTANCE_GONE = ("terminated", "shutting-down")
_INSTANCE_STOPPED = ("stopped", "stopping")
_ENDPOINT_GONE = ("deleted", "deleting", "failed")

HealthReporter = Callable[[str, list[dict[str, Any]]], None]


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


# --------------------------------------------------------------------------- the diff


@dataclass(frozen=True)
class AppliedState:
    """What the reconciler has put in place, keyed like :class:`DesiredState`."""

    routers: Mapping[str, RouterSpec] = field(default_factory=dict)
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)
    rulesets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    create_routers: tuple[str, ...] = ()
    delete_routers: tuple[str, ...] = ()
    create_hosts: tuple[str, ...] = ()
    delete_hosts: tuple[str, ...] = ()
    apply_rulesets: tuple[str, ...] = ()
    clear_rulesets: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.create_routers,
                self.delete_routers,
                self.create_hosts,
                self.delete_hosts,
                self.apply_rulesets,
                self.clear_rulesets,
            )
        )


def plan_changes(
    applied: AppliedState, desired: DesiredState, existing_namespaces: Iterable[str]
) -> Changes:
    """The namespace/firewall work that turns ``applied`` into ``desired``.

    A namespace that was applied but has vanished (deleted by hand) is created again; one
    whose spec changed (new address, other subnet) is deleted and created again.
    """
    existing = set(existing_namespaces)
    recreate_routers = {
        ns
        for ns, spec in desired.routers.items()
        if ns in applied.routers and (applied.routers[ns] != spec or ns not in existing)
    }
    create_routers = {ns for ns in desired.routers if ns not in applied.routers}
    create_routers |= recreate_routers
    delete_routers = {ns for ns in applied.routers if ns not in desired.routers}
    delete_routers |= recreate_routers & set(applied.routers)

    recreate_hosts = {
        ns
        for ns, spec in desired.hosts.items()
        if ns in applied.hosts
        and (
            applied.hosts[ns] != spec
            or ns not in existing
            or spec.router_namespace in recreate_routers
        )
    }
    create_hosts = {ns for ns in desired.hosts if ns not in applied.hosts} | recreate_hosts
    delete_hosts = {ns for ns in applied.hosts if ns not in desired.hosts} | recreate_hosts

    apply_rulesets = {
        ns
        for ns, text in desired.rulesets.items()
        if ns in create_hosts or applied.rulesets.get(ns) != text
    }
    clear_rulesets = {
        ns
        for ns in applied.rulesets
        if ns not in desired.rulesets and ns in desired.hosts and ns not in create_hosts
    }
    return Changes(
        create_routers=tuple(sorted(create_routers)),
        delete_routers=tuple(sorted(delete_routers)),
        create_hosts=tuple(sorted(create_hosts)),
        delete_hosts=tuple(sorted(delete_hosts)),
        apply_rulesets=tuple(sorted(apply_rulesets)),
        clear_rulesets=tuple(sorted(clear_rulesets)),
    )


# --------------------------------------------------------------------------- target health


def target_health(
    desired: DesiredState, statuses: Iterable[ServerStatus]
) -> dict[str, list[dict[str, Any]]]:
    """Per target group, the report for the control plane from HAProxy's check results.

    A target is healthy when any node's check passes; unhealthy when every node that checked
    it failed; not reported while no check has finished yet (it stays ``initial``).
    """
    seen: dict[tuple[str, str, int], list[ServerStatus]] = {}
    for status in statuses:
        ref = desired.node_targets.get(status.proxy, {}).get(status.server)
        if ref is not None and status.checked:
            seen.setdefault((ref.target_group_arn, ref.instance_id, ref.port), []).append(status)
    report: dict[str, list[dict[str, Any]]] = {}
    for (arn, instance_id, port), results in sorted(seen.items()):
        entry: dict[str, Any] = {"id": instance_id, "port": port}
        if any(r.up for r in results):
            entry["state"] = "healthy"
        else:
            entry.update(
                state="unhealthy",
                reason="Target.FailedHealthChecks",
                description=f"Health checks failed ({results[0].check_status})",
            )
        report.setdefault(arn, []).append(entry)
    for arn, items in desired.invalid_targets.items():
        for instance_id, port, reason, description in items:
            report.setdefault(arn, []).append(
                {
                    "id": instance_id,
                    "port": port,
                    "state": "unhealthy",
                    "reason": reason,
                    "description": description,
                }
            )
    return report


def node_health(desired: DesiredState, statuses: Iterable[ServerStatus]) -> dict[str, bool]:
    """NLB node namespace -> whether any target behind it is up (for DNS)."""
    proxy_ns = {p.name: p.bind_namespace for p in desired.proxies if p.name in desired.node_targets}
    result = {ns: False for ns in proxy_ns.values()}
    for status in statuses:
        ns = proxy_ns.get(status.proxy)
        if ns is not None and status.up:
            result[ns] = True
    return result


def http_reporter(localstack_url: str) -> HealthReporter:
    """POST target health to the control plane's ``/_jerp/target-health``."""
    url = localstack_url.rstrip("/") + "/_jerp/target-health"

    def report(target_group_arn: str, targets: list[dict[str, Any]]) -> None:
        body = json.dumps({"target_group_arn": target_group_arn, "targets": targets}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise DataPlaneError(
                f"could not report target health to {url}: {exc}",
                hint="is LocalStack running with the JERP PrivateLink plug-in?",
            ) from exc

    return report


# --------------------------------------------------------------------------- the reconciler


class DataPlane(Lifecycle):
    """Namespaces, HAProxy, dnsmasq and JERP converged to a topology; start()/stop().

    ``source`` returns the current topology (``read_topology`` against LocalStack in the
    daemon, a fixed Topology in tests); ``reporter`` receives target health per target group.
    """

    def __init__(
        self,
        state_dir: Path,
        env_id: str,
        source: Callable[[], Topology],
        reporter: HealthReporter | None = None,
        python: str = sys.executable,
    ) -> None:
        self.state_dir = state_dir
        self.env_id = env_id
        self.source = source
        self.reporter = reporter
        self.python = python
        self.run_dir = state_dir / f"run-{env_id}"
        self.applied = AppliedState()
        self.desired: DesiredState | None = None
        self.haproxy = HAProxy(self.run_dir, "haproxy", self.run_dir / "haproxy.log")
        self.resolvers: dict[str, Resolver] = {}
        self.jerps: dict[str, JerpHost] = {}
        self._reported: dict[str, list[dict[str, Any]]] = {}
        self._listening: set[tuple[str, int]] = set()
        self.last_changes: list[str] = []
        self.last_error: str | None = None
        self.reconciled_at: float | None = None
        self.topology: Topology | None = None
        self.report_error: str | None = None

    # -- lifecycle

    def start(self) -> DataPlane:
        require_root()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.reconcile()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Tear everything down: processes first, then namespaces, then files."""
        for jerp in self.jerps.values():
            jerp.stop()
        self.jerps.clear()
        self.haproxy.stop()
        for resolver in self.resolvers.values():
            resolver.stop()
        self.resolvers.clear()
        teardown_env(self.env_id, self.applied_namespaces())
        self.applied = AppliedState()
        for path in sorted(self.run_dir.glob("*"), reverse=True):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            self.run_dir.rmdir()

    def applied_namespaces(self) -> list[str]:
        return [*self.applied.hosts, *self.applied.routers]

    # -- one pass

    def reconcile(self) -> list[str]:
        """Converge once; returns what was changed (empty when already converged)."""
        topology = self.source()
        self.topology = topology
        statuses = self.haproxy.server_status() if self.haproxy.running() else []
        previous = self.desired
        up = node_health(previous, statuses) if previous else {}
        desired = plan(topology, self.env_id, up)
        changes: list[str] = []
        diff = plan_changes(self.applied, desired, list_namespaces())
        routers = dict(self.applied.routers)
        hosts = dict(self.applied.hosts)
        rulesets = dict(self.applied.rulesets)

        for ns in diff.delete_hosts:
            self._stop_jerp_in(ns)
            delete_namespace(ns)
            hosts.pop(ns, None)
            rulesets.pop(ns, None)
            changes.append(f"deleted host namespace {ns}")
        for ns in diff.delete_routers:
            resolver = self.resolvers.pop(ns, None)
            if resolver:
                resolver.stop()
            delete_namespace(ns)
            routers.pop(ns, None)
            changes.append(f"deleted router namespace {ns}")
        for ns in diff.create_routers:
            delete_namespace(ns)  # a half-made one from an interrupted pass
            create_router(desired.routers[ns])
            routers[ns] = desired.routers[ns]
            changes.append(f"created router namespace {ns}")
        for ns in diff.create_hosts:
            delete_namespace(ns)
            create_host(desired.hosts[ns])
            hosts[ns] = desired.hosts[ns]
            changes.append(f"created host namespace {ns}")
        for ns in diff.apply_rulesets:
            apply_ruleset(ns, desired.rulesets[ns])
            rulesets[ns] = desired.rulesets[ns]
            changes.append(f"applied security groups in {ns}")
        for ns in diff.clear_rulesets:
            run(ns_exec(ns, ["nft", "delete", "table", "inet", "jerp_sg"]), check=False)
            rulesets.pop(ns, None)
            changes.append(f"cleared security groups in {ns}")
        self.applied = AppliedState(routers, hosts, rulesets)

        for ns, spec in desired.routers.items():
            resolver = self.resolvers.get(ns)
            if resolver is None:
                resolver = Resolver(
                    ns, spec.resolver_ip, self.run_dir, self.run_dir / f"{ns}.dnsmasq.log"
                )
                self.resolvers[ns] = resolver
            if resolver.update(desired.dns):
                changes.append(f"updated DNS in {ns}")

        # JERP first: health checks of a new listener then find their targets serving.
        for instance_id in [i for i in self.jerps if i not in desired.jerps]:
            self.jerps.pop(instance_id).stop()
            changes.append(f"stopped JERP on {instance_id}")
        started: list[JerpHost] = []
        for instance_id, jerp_spec in desired.jerps.items():
            jerp = self.jerps.get(instance_id)
            if jerp is not None and (jerp.spec != jerp_spec or not jerp.running()):
                jerp.stop()
                self._listening.discard((jerp.spec.namespace, jerp.spec.port))
                jerp = None
            if jerp is None:
                log = self.run_dir / f"jerp-{instance_id}.log"
                jerp = JerpHost(jerp_spec, log, self.python).start()
                self.jerps[instance_id] = jerp
                started.append(jerp)
                changes.append(f"started JERP on {instance_id}")
        if started:
            # Not fatal past the deadline: problems() then says which JERP is not serving.
            with contextlib.suppress(WaitTimeout):
                wait_for(
                    "JERP to listen on " + ", ".join(j.spec.instance_id for j in started),
                    lambda: all(not j.running() or self._is_listening(j.spec) for j in started),
                    JERP_START_TIMEOUT_S,
                )

        if diff.create_hosts and self.haproxy.running():
            # Listeners bound in a namespace that was re-made must bind again.
            self.haproxy.stop()
        if self.haproxy.apply(desired.proxies):
            changes.append(f"haproxy configured with {len(desired.proxies)} listeners")

        self.desired = desired
        self._report_health(statuses)
        self.last_changes = changes
        self.reconciled_at = time.time()
        return changes

    def _stop_jerp_in(self, namespace: str) -> None:
        for instance_id, jerp in list(self.jerps.items()):
            if jerp.spec.namespace == namespace:
                jerp.stop()
                del self.jerps[instance_id]

    def _report_health(self, statuses: list[ServerStatus]) -> None:
        if self.reporter is None or self.desired is None:
            return
        # A control plane that cannot take the report now gets it on a later pass; the
        # data plane itself keeps serving.
        self.report_error = None
        for arn, targets in target_health(self.desired, statuses).items():
            if self._reported.get(arn) != targets:
                try:
                    self.reporter(arn, targets)
                except HarnessError as exc:
                    self.report_error = str(exc)
                    continue
                self._reported[arn] = targets

    # -- health

    def problems(self) -> list[str]:
        """Why the data plane is not healthy (empty when it is)."""
        found: list[str] = []
        if self.desired is None:
            return ["not reconciled yet"]
        found += self.desired.warnings
        if not self.haproxy.running():
            found.append("haproxy is not running")
        for ns, resolver in self.resolvers.items():
            if not resolver.process.running():
                found.append(f"dnsmasq in {ns} is not running")
        # Like AWS, a target is `initial` until its first health checks finish; the data
        # plane is healthy once every registered target has a reported state.
        if self.reporter is not None:
            reported = {(arn, t["id"]) for arn, items in self._reported.items() for t in items}
            pending = {
                ref.instance_id
                for targets in self.desired.node_targets.values()
                for ref in targets.values()
                if (ref.target_group_arn, ref.instance_id) not in reported
            }
            found += [f"{i}: first health checks not finished yet" for i in sorted(pending)]
        for instance_id, jerp in self.jerps.items():
            if not jerp.running():
                found.append(f"JERP on {instance_id} exited (see its log in {self.run_dir})")
            elif not self._is_listening(jerp.spec):
                found.append(f"JERP on {instance_id} is not listening yet")
        return found

    def _is_listening(self, spec: JerpSpec) -> bool:
        key = (spec.namespace, spec.port)
        if key not in self._listening:
            out = run(
                ns_exec(spec.namespace, ["ss", "-Hltn", f"sport = :{spec.port}"]), check=False
            )
            if out.strip():
                self._listening.add(key)
        return key in self._listening

    def snapshot(self) -> dict[str, Any]:
        """The state-file body: hosts with their namespaces, pids, health."""
        hosts: dict[str, Any] = {}
        names: dict[str, str] = {}
        if self.desired is not None:
            instances = self.topology.instances if self.topology else ()
            topology_names = {i.instance_id: i.name for i in instances if i.name}
            for ns, spec in sorted(self.applied.hosts.items()):
                hosts[spec.ref] = {
                    "namespace": ns,
                    "kind": spec.kind,
                    "ip": spec.ip,
                    "vpc_id": spec.vpc_id,
                    "resolver": spec.resolver_ip,
                    "name": topology_names.get(spec.ref, ""),
                }
                if topology_names.get(spec.ref):
                    names[topology_names[spec.ref]] = spec.ref
        pids: dict[str, int | None] = {"haproxy": self.haproxy.pid}
        pids.update({f"dnsmasq:{ns}": r.pid for ns, r in self.resolvers.items()})
        pids.update({f"jerp:{i}": j.pid for i, j in self.jerps.items()})
        processes = {
            key: ident.record()
            for key, pid in pids.items()
            if pid and (ident := ProcessId.of(pid)) is not None
        }
        problems = self.problems()
        return {
            "env_id": self.env_id,
            "hosts": hosts,
            "names": names,
            "routers": {
                ns: {"cidr": r.cidr, "router": r.router_ip, "resolver": r.resolver_ip}
                for ns, r in sorted(self.applied.routers.items())
            },
            "namespaces": sorted(self.applied_namespaces()),
            "processes": processes,
            "dns": dict(self.desired.dns) if self.desired else {},
            "target_health": self._reported,
            "converged": self.desired is not None and self.last_error is None,
            "healthy": not problems and self.last_error is None,
            "problems": problems,
            "error": self.last_error,
            "report_error": self.report_error,
            "reconciled_at": self.reconciled_at,
            "last_changes": self.last_changes,
        }


# --------------------------------------------------------------------------- teardown


def teardown_env(env_id: str, namespaces: Iterable[str] = ()) -> list[str]:
    """Delete every namespace of ``env_id`` (and its processes and /etc/netns dirs)."""
    prefix = f"{env_id}-"
    names = set(namespaces) | {ns for ns in list_namespaces() if ns.startswith(prefix)}
    etc = Path("/etc/netns")
    if etc.is_dir():
        names |= {p.name for p in etc.iterdir() if p.name.startswith(prefix)}
    # Hosts before routers: a veth goes with either end, but this keeps the order tidy.
    ordered = sorted(names, key=lambda n: (n.startswith(f"{env_id}-vpc-"), n))
    for ns in ordered:
        delete_namespace(ns)
    return ordered


# --------------------------------------------------------------------------- state file


def state_path(settings_or_dir: HarnessSettings | Path) -> Path:
    base = settings_or_dir if isinstance(settings_or_dir, Path) else settings_or_dir.state_dir
    return base / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(state_dir: Path, data: Mapping[str, Any]) -> None:
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def daemon_id(state: Mapping[str, Any] | None) -> ProcessId | None:
    """The daemon a state file names, as it recorded itself (pid and start time)."""
    return ProcessId.from_record(state.get("daemon")) if state else None


def recorded_processes(state: Mapping[str, Any]) -> dict[str, ProcessId]:
    """Every process a state file records: the daemon and what it started."""
    found = {
        key: ident
        for key, record in dict(state.get("processes", {})).items()
        if (ident := ProcessId.from_record(record)) is not None
    }
    if (daemon := daemon_id(state)) is not None:
        found["daemon"] = daemon
    return found


# --------------------------------------------------------------------------- daemon


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()


def serve(
    settings: HarnessSettings,
    env_id: str,
    poll_s: float = POLL_INTERVAL_S,
    jerp_python: str = sys.executable,
) -> int:
    """The daemon loop: reconcile every ``poll_s`` until SIGTERM/SIGINT, then tear down."""
    from harness.aws import AwsClients
    from harness.inventory import TopologyReader

    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reader = TopologyReader(AwsClients.from_settings(settings))
    # The daemon writes its own identity: nobody has to guess it from a pid that may not have
    # exec'd yet (or may have been recycled).
    me = ProcessId.self()
    base: dict[str, Any] = {"pid": me.pid, "daemon": me.record(), "started_at": time.time()}
    plane = DataPlane(
        settings.state_dir,
        env_id,
        reader.read,
        http_reporter(settings.localstack_url),
        python=jerp_python,
    )
    require_root()
    plane.run_dir.mkdir(parents=True, exist_ok=True)
    write_state(settings.state_dir, {**base, **plane.snapshot()})
    try:
        while not stop.event.is_set():
            try:
                changes = plane.reconcile()
                plane.last_error = None
                for change in changes:
                    print(f"{time.strftime('%H:%M:%S')} {change}", flush=True)
            except HarnessError as exc:
                plane.last_error = str(exc)
                print(f"{time.strftime('%H:%M:%S')} reconcile failed: {exc}", flush=True)
            except Exception as exc:
                plane.last_error = f"{type(exc).__name__}: {exc}"
                print(f"{time.strftime('%H:%M:%S')} reconcile failed: {exc!r}", flush=True)
            write_state(settings.state_dir, {**base, **plane.snapshot()})
            stop.event.wait(poll_s)
    finally:
        print(f"{time.strftime('%H:%M:%S')} stopping: tearing the data plane down", flush=True)
        plane.stop()
        with contextlib.suppress(OSError):
            state_path(settings.state_dir).unlink()
    return 0


@dataclass(frozen=True)
class DataPlaneHandle:
    """A running data-plane daemon."""

    pid: int
    env_id: str
    state_file: Path
    log_file: Path


def _cleanup_dead(settings: HarnessSettings, state: Mapping[str, Any]) -> None:
    """Remove what a daemon that is gone left behind: its processes, namespaces, files."""
    for key, ident in recorded_processes(state).items():
        if key != "daemon":
            ident.terminate(timeout_s=5.0)
    env_id = str(state.get("env_id", ""))
    if env_id:
        _remove_env(settings, env_id, state.get("namespaces", []))
    with contextlib.suppress(OSError):
        state_path(settings).unlink()


def _remove_env(settings: HarnessSettings, env_id: str, namespaces: Iterable[str] = ()) -> None:
    teardown_env(env_id, namespaces)
    run_dir = settings.state_dir / f"run-{env_id}"
    for path in sorted(run_dir.glob("*"), reverse=True):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        run_dir.rmdir()


def _spawn_daemon(
    settings: HarnessSettings, env_id: str, log_file: Path, jerp_python: str
) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.dataplane",
                "serve",
                "--env-id",
                env_id,
                "--state-dir",
                str(settings.state_dir),
                "--localstack-url",
                settings.localstack_url,
                "--region",
                settings.region,
                "--jerp-python",
                jerp_python,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: the daemon outlives `make deploy` on purpose (it keeps the data
            # plane following the control plane until `make destroy`).
            start_new_session=True,
        )


def start_dataplane(
    settings: HarnessSettings,
    timeout_s: float = 180.0,
    prefix: str = DEFAULT_PREFIX,
    jerp_python: str = sys.executable,
) -> DataPlaneHandle:
    """Start the daemon (or find the one running) and wait until converged and healthy.

    ``jerp_python`` is the interpreter that runs ``-m jerp`` on the emulated instances. While
    the daemon we start is our child, its liveness is its ``Popen`` (no pid guessing); a daemon
    found running is known by the identity it recorded itself. A start that fails stops that
    daemon and removes its environment, whether or not it had written a state file yet.
    """
    require_root()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.state_dir / LOG_FILE
    state = read_state(settings.state_dir)
    running = daemon_id(state)
    proc: subprocess.Popen[bytes] | None = None
    if running is not None and running.alive():
        env_id = str(state["env_id"]) if state else ""
    else:
        if state is not None:
            _cleanup_dead(settings, state)
        env_id = new_env_id(prefix)
        proc = _spawn_daemon(settings, env_id, log_file, jerp_python)

    def ready() -> bool:
        exited = proc.poll() is not None if proc is not None else not running_alive()
        if exited:
            raise DataPlaneError(
                "the data-plane daemon exited during start-up:\n" + log_tail(log_file, 15),
                hint=f"see {log_file}",
            )
        current = read_state(settings.state_dir) or {}
        me = daemon_id(current)
        return bool(
            me is not None
            and (proc is None or me.pid == proc.pid)
            and current.get("env_id") == env_id
            and current.get("converged")
            and current.get("healthy")
        )

    def running_alive() -> bool:
        return running is not None and running.alive()

    try:
        wait_for("the data plane to converge and report healthy", ready, timeout_s)
    except BaseException as exc:
        current = read_state(settings.state_dir) or {}
        _abandon_start(settings, proc, env_id)
        if isinstance(exc, WaitTimeout):
            detail = current.get("error") or "; ".join(current.get("problems", [])) or "no state"
            raise DataPlaneError(
                f"the data plane did not become healthy within {timeout_s:.0f}s: {detail}",
                hint=f"see {log_file}",
            ) from exc
        raise
    final = read_state(settings.state_dir) or {}
    ident = daemon_id(final)
    assert ident is not None  # ready() saw it
    return DataPlaneHandle(ident.pid, env_id, state_path(settings), log_file)


def _abandon_start(
    settings: HarnessSettings, proc: subprocess.Popen[bytes] | None, env_id: str
) -> None:
    """Undo a failed start: stop the daemon (through its Popen when it is ours) and its env."""
    if proc is None:
        stop_dataplane(settings)
        return
    if proc.poll() is None:
        proc.terminate()  # the daemon tears its own environment down on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    state = read_state(settings.state_dir)
    if state is not None and state.get("env_id") == env_id:
        _cleanup_dead(settings, state)
    else:
        _remove_env(settings, env_id)


def stop_dataplane(settings: HarnessSettings, timeout_s: float = 30.0) -> None:
    """Stop the daemon and remove everything its environment created. Safe to repeat."""
    state = read_state(settings.state_dir)
    if state is None:
        return
    daemon = daemon_id(state)
    if daemon is not None:
        daemon.terminate(timeout_s)
    _cleanup_dead(settings, state)


def dataplane_status(settings: HarnessSettings) -> str:
    state = read_state(settings.state_dir)
    if state is None:
        return "not running"
    daemon = daemon_id(state)
    pid = daemon.pid if daemon else state.get("pid")
    if daemon is None or not daemon.alive():
        return f"dead (pid {pid} gone; `make destroy` removes env {state.get('env_id')})"
    health = (
        "healthy"
        if state.get("healthy")
        else "unhealthy: "
        + "; ".join([*state.get("problems", []), *([state["error"]] if state.get("error") else [])])
    )
    hosts = len(state.get("hosts", {}))
    return f"running (pid {pid}, env {state.get('env_id')}, {hosts} hosts), {health}"


def main(argv: list[str] | None = None) -> int:
    from harness.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m harness.dataplane")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the reconciler in the foreground")
    serve_p.add_argument("--env-id", default=None)
    serve_p.add_argument("--state-dir", default=None)
    serve_p.add_argument("--localstack-url", default=None)
    serve_p.add_argument("--region", default=None)
    serve_p.add_argument("--jerp-python", default=sys.executable)
    sub.add_parser("start", help="start the daemon and wait until healthy")
    sub.add_parser("stop", help="stop the daemon and tear everything down")
    sub.add_parser("status", help="one line about the daemon")
    args = parser.parse_args(argv)
    try:
        overrides: dict[str, object] = {}
        if args.command == "serve":
            if args.state_dir:
                overrides["HARNESS_STATE_DIR"] = args.state_dir
            if args.localstack_url:
                overrides["LOCALSTACK_ENDPOINT"] = args.localstack_url
            if args.region:
                overrides["AWS_REGION"] = args.region
        settings = load_settings(**overrides)
        if args.command == "serve":
            return serve(settings, args.env_id or new_env_id(), jerp_python=args.jerp_python)
        if args.command == "start":
            handle = start_dataplane(settings)
            print(f"data plane running: pid {handle.pid}, env {handle.env_id}")
        elif args.command == "stop":
            stop_dataplane(settings)
        else:
            print(dataplane_status(settings))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
