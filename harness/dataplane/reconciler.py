"""The reconciler: applies the difference between the desired and the applied state to the
namespaces, HAProxy, dnsmasq, nftables and JERP processes, and tears an environment down."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.dataplane.diff import AppliedState, Changes, plan_changes
from harness.dataplane.dnsmasq import Resolver
from harness.dataplane.firewall import apply_ruleset
from harness.dataplane.forwarder import LINK_PREFIX, KernelForwarder, node_targets
from harness.dataplane.haproxy import HAProxy, ServerStatus
from harness.dataplane.health import (
    HealthReporter,
    health_moved,
    health_settling,
    health_view,
    node_health,
    target_health,
)
from harness.dataplane.hosts import JerpHost, JerpSpec
from harness.dataplane.netns import (
    create_host,
    create_router,
    delete_namespace,
    list_namespaces,
    ns_exec,
    require_root,
    run,
)
from harness.dataplane.planner import DesiredState, plan
from harness.dataplane.ppv2 import PpV2Relay
from harness.dataplane.state import remove_run_files, run_dir, runtime_dir
from harness.dataplane.topology import (
    Topology,
)
from harness.errors import HarnessError, WaitTimeout
from harness.lifecycle import Lifecycle
from harness.processes import ProcessId, wait_for

JERP_START_TIMEOUT_S = 20.0


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
        self.run_dir = run_dir(state_dir, env_id)
        self.applied = AppliedState()
        self.desired: DesiredState | None = None
        self.haproxy = HAProxy(
            self.run_dir, "haproxy", self.run_dir / "haproxy.log", runtime_dir(env_id)
        )
        self.resolvers: dict[str, Resolver] = {}
        self.jerps: dict[str, JerpHost] = {}
        self.relays: dict[str, PpV2Relay] = {}  # node namespace -> its PROXY v2 relay
        self.forwarder = KernelForwarder()
        self._reported: dict[str, list[dict[str, Any]]] = {}
        self._listening: set[tuple[str, int]] = set()
        self.last_changes: list[str] = []
        self.last_error: str | None = None
        self.reconciled_at: float | None = None
        self.topology: Topology | None = None
        self.report_error: str | None = None
        # Seconds per phase of the last pass (``read_s``, ``namespaces_s`` ... and ``pass_s``
        # for the whole): where a pass spends its time, in the state file (``pass_timing``) for
        # the benchmarks and for profiling. A failed pass leaves the phases it got through.
        self.timing: dict[str, float] = {}
        # HAProxy's check results as the last pass read them, and whether one was about to
        # change (see health_moved).
        self._health_seen: dict[tuple[str, str], tuple[bool, bool]] = {}
        self._health_settling = False
        # Every namespace the running HAProxy's configurations have named since it started.
        self._haproxy_namespaces: set[str] = set()

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timing[f"{name}_s"] = round(time.monotonic() - started, 4)

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
        for relay in self.relays.values():
            relay.stop()
        self.relays.clear()
        self.haproxy.stop()
        self.forwarder = KernelForwarder()
        for resolver in self.resolvers.values():
            resolver.stop()
        self.resolvers.clear()
        teardown_env(self.env_id, self.applied_namespaces())
        self.applied = AppliedState()
        remove_run_files(self.state_dir, self.env_id)

    def applied_namespaces(self) -> list[str]:
        return [*self.applied.hosts, *self.applied.routers]

    # -- one pass

    def reconcile(self) -> list[str]:
        """Converge once; returns what was changed (empty when already converged)."""
        self.timing = {}
        with self._phase("pass"):
            return self._pass()

    def _pass(self) -> list[str]:
        with self._phase("read"):
            topology = self.source()
        self.topology = topology
        with self._phase("plan"):
            statuses = self.haproxy.server_status() if self.haproxy.running() else []
            self._health_seen = health_view(statuses)
            self._health_settling = health_settling(statuses)
            previous = self.desired
            up = node_health(previous, statuses) if previous else {}
            desired = plan(topology, self.env_id, up)
            diff = plan_changes(self.applied, desired, list_namespaces())
        changes: list[str] = []
        changes += self._apply_namespaces(desired, diff)
        with self._phase("dns"):
            changes += self._apply_dns(desired)
        with self._phase("jerp"):
            changes += self._apply_jerps(desired)
        with self._phase("relays"):
            changes += self._apply_relays(desired)
        with self._phase("haproxy"):
            if self.haproxy.running() and set(diff.create_hosts) & self._haproxy_namespaces:
                # A namespace made anew under a name this HAProxy has used: its listeners must
                # bind again, and a restart does that for sure (whether a reload would is not
                # established), at the price of entering every checked target DOWN again. A
                # namespace with a new name (a new ENI, node or instance) needs only the reload
                # apply() does, which keeps the checks' results: restarting for every new host,
                # as before, took all targets down with each new endpoint ENI.
                self.haproxy.stop()
                self._haproxy_namespaces = set()
            if self.haproxy.apply(desired.proxies):
                changes.append(f"haproxy configured with {len(desired.proxies)} listeners")
            self._haproxy_namespaces |= _proxy_namespaces(desired)
        with self._phase("forwarder"):
            changes += self._apply_forwarder(desired, diff, statuses)

        self.desired = desired
        with self._phase("report"):
            self._report_health(statuses)
        self.last_changes = changes
        self.reconciled_at = time.time()
        return changes

    def _apply_namespaces(self, desired: DesiredState, diff: Changes) -> list[str]:
        """Routers, hosts and their security-group rulesets, as ``diff`` says."""
        changes: list[str] = []
        routers = dict(self.applied.routers)
        hosts = dict(self.applied.hosts)
        rulesets = dict(self.applied.rulesets)

        with self._phase("namespaces"):
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
        with self._phase("nft"):
            for ns in diff.apply_rulesets:
                apply_ruleset(ns, desired.rulesets[ns])
                rulesets[ns] = desired.rulesets[ns]
                changes.append(f"applied security groups in {ns}")
            for ns in diff.clear_rulesets:
                run(ns_exec(ns, ["nft", "delete", "table", "inet", "jerp_sg"]), check=False)
                rulesets.pop(ns, None)
                changes.append(f"cleared security groups in {ns}")
        self.applied = AppliedState(routers, hosts, rulesets)
        return changes

    def _apply_forwarder(
        self, desired: DesiredState, diff: Changes, statuses: list[ServerStatus]
    ) -> list[str]:
        """The kernel's PrivateLink path, its targets as HAProxy's checks left them."""
        groups = {
            proxy: ref.target_group_arn
            for proxy, refs in desired.node_targets.items()
            for ref in refs.values()
        }
        serving, down = node_targets(desired.kernel_routes, desired.proxies, statuses, groups)
        target_namespaces = {spec.ip: spec.namespace for spec in desired.jerps.values()}
        return self.forwarder.apply(
            desired.kernel_routes,
            serving,
            down,
            target_namespaces,
            remade=diff.create_hosts,
            gone=diff.delete_hosts,
        )

    def _apply_dns(self, desired: DesiredState) -> list[str]:
        """One dnsmasq per VPC router namespace, serving that VPC's names."""
        changes = []
        for ns, spec in desired.routers.items():
            resolver = self.resolvers.get(ns)
            if resolver is None:
                resolver = Resolver(
                    ns, spec.resolver_ip, self.run_dir, self.run_dir / f"{ns}.dnsmasq.log"
                )
                self.resolvers[ns] = resolver
            if resolver.update(desired.dns_for(ns)):
                changes.append(f"updated DNS in {ns}")
        return changes

    def _apply_jerps(self, desired: DesiredState) -> list[str]:
        """JERP on every running instance; waits until the new ones listen.

        Before HAProxy: health checks of a new listener then find their targets serving.
        """
        changes = []
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
        return changes

    def _apply_relays(self, desired: DesiredState) -> list[str]:
        """One PROXY v2 relay per node namespace that has proxy-protocol targets."""
        changes = []
        for ns in [n for n in self.relays if n not in desired.relays]:
            self.relays.pop(ns).stop()
            changes.append(f"stopped the PROXY v2 relay in {ns}")
        for ns, routes in desired.relays.items():
            relay = self.relays.get(ns)
            if relay is not None and relay.routes == routes and relay.running():
                continue
            if relay is not None:
                relay.stop()
            log = self.run_dir / f"{ns}.ppv2.log"
            self.relays[ns] = PpV2Relay(ns, routes, log, self.python).start()
            changes.append(f"started the PROXY v2 relay in {ns}")
        if changes:
            wait_for(
                "the PROXY v2 relays to listen",
                lambda: all(self._relay_listening(ns) for ns in desired.relays),
                JERP_START_TIMEOUT_S,
            )
        return changes

    def _relay_listening(self, ns: str) -> bool:
        relay = self.relays[ns]
        out = run(ns_exec(ns, ["ss", "-Hltn"]), check=False)
        return all(f"{r.listen[0]}:{r.listen[1]} " in out for r in relay.routes)

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

    def health_moved(self) -> bool | None:
        """Between passes: True when a health check changed a target's state since the last
        pass read them (the next pass reports it and moves DNS), False while one is about to
        (a target in its first checks, or counting towards a change), None when none is: then
        only a control-plane change or the periodic poll brings the next pass."""
        if not self._health_settling or not self.haproxy.running():
            return None
        return health_moved(self._health_seen, self.haproxy.server_status())

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
        for ns, relay in self.relays.items():
            if not relay.running():
                found.append(f"the PROXY v2 relay in {ns} exited (see its log in {self.run_dir})")
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
        pids.update({f"ppv2:{ns}": r.pid for ns, r in self.relays.items()})
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
            "vpc_dns": {ns: dict(names) for ns, names in self.desired.vpc_dns.items()}
            if self.desired
            else {},
            "target_health": self._reported,
            # The kernel forwarder: each ENI's link to its node (open: the endpoint is
            # available), and the targets each node hashes new flows over.
            "forwarder": {
                "links": [
                    {
                        "eni": eni,
                        "node": node,
                        "link": f"{LINK_PREFIX}{index}",
                        "open": (eni, node) in self.forwarder.open,
                    }
                    for (eni, node), index in sorted(self.forwarder.links.items())
                ],
                "serving": {
                    ns: sorted(f"{t.address}:{t.port}" for t in targets)
                    for ns, targets in sorted(self.forwarder.serving.items())
                },
            },
            "converged": self.desired is not None and self.last_error is None,
            "healthy": not problems and self.last_error is None,
            "problems": problems,
            "error": self.last_error,
            "report_error": self.report_error,
            "reconciled_at": self.reconciled_at,
            "last_changes": self.last_changes,
            "pass_timing": dict(self.timing),
        }


def _proxy_namespaces(desired: DesiredState) -> set[str]:
    """The namespaces ``desired``'s listeners bind in and connect from."""
    return {p.bind_namespace for p in desired.proxies} | {
        server.namespace for p in desired.proxies for server in p.servers
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
