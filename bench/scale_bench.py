"""Scale: 1, 20 and 100 consumer VPCs, each with an endpoint, added to the deployed service.

For each size, with boto3 against the plug-in (not Terraform): create that many VPCs, each with
one subnet in an AZ of the service and an interface endpoint (``pendingAcceptance``); wait
until the data plane has placed every endpoint ENI; then accept them all in one
``AcceptVpcEndpointConnections`` call and time until every ENI forwards: its link to the NLB
node is up in its namespace (``/proc/thread-self/net/dev`` read from inside each namespace, so a
sweep over 100 namespaces takes milliseconds and spawns nothing) and the daemon's state file,
written after the pass that applied the kernel forwarder's tables, lists it (swept every
``SWEEP_S`` once the endpoints are available). The plug-in keeps
an accepted endpoint ``pending`` for ``PENDING_S`` before ``available`` (AWS's
pendingAcceptance -> pending -> available); the moment it turns ``available`` is taken from the
plug-in's change notice, so the data plane's own part (available -> every ENI forwarding) is
reported apart from the total. Then count the data plane's processes (the daemon, what it
records, and their children) and their memory, subtract the figures from before, and delete it
all again before the next size. Memory per endpoint, three ways (``/proc/<pid>/smaps_rollup``):

- RSS: resident pages, shared ones (libraries, the dnsmasq binary) counted in every process;
- PSS: each shared page divided among the processes that map it;
- USS: private pages only (Private_Clean + Private_Dirty), what one more endpoint really costs:
  the memory freed if its processes went away.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.dataplane.daemon import LONG_POLL_S, ChangeNoticeAbsent, ask_changes
from harness.errors import HarnessError

SIZES = (1, 20, 100)
CLONE_NEWNET = 0x40000000
PLACE_DEADLINE_S = 300.0
CONVERGE_DEADLINE_S = 60.0
# A sweep of 100 namespaces costs milliseconds of CPU on a machine the data plane shares; a
# coarser poll would inflate the figure (by up to the interval).
SWEEP_S = 0.05
FIRST_OCTET = 10
SECOND_OCTET_BASE = 100  # consumer VPCs 10.100.0.0/16 .. 10.199.0.0/16


# --------------------------------------------------------------------------- what forwards


def forwarding(
    state_dir: Path, targets: Iterable[tuple[str, str, int]]
) -> set[tuple[str, str, int]]:
    """Of (namespace, address, port), the endpoint ENIs the kernel forwarder serves: the
    daemon's state file lists the namespace's link as open (its endpoint available, the
    node's table applied) and the link is in the namespace.

    The namespaces are read in a thread of its own that joins each in turn (setns) and ends
    after, so no other thread of the bench ever changes namespace.
    """
    from harness.dataplane.forwarder import LINK_PREFIX
    from harness.dataplane.state import read_state

    state = read_state(state_dir) or {}
    links = state.get("forwarder", {}).get("links", [])
    linked = {link["eni"] for link in links if link.get("open")}
    libc = ctypes.CDLL(None, use_errno=True)
    found: set[tuple[str, str, int]] = set()
    errors: list[str] = []

    def sweep() -> None:
        for ns, address, port in targets:
            if ns not in linked:
                continue
            try:
                fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            except OSError:
                continue
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    errors.append(f"setns {ns}: {os.strerror(ctypes.get_errno())}")
                    continue
                devices = Path("/proc/thread-self/net/dev").read_text()
            finally:
                os.close(fd)
            names = [line.split(":")[0].strip() for line in devices.splitlines()[2:]]
            if any(name.startswith(LINK_PREFIX) for name in names):
                found.add((ns, address, port))

    worker = threading.Thread(target=sweep, name="netns-sweep")
    worker.start()
    worker.join(timeout=60)
    if errors:
        raise HarnessError(f"could not look into namespaces: {errors[0]}", hint="run as root")
    return found


# --------------------------------------------------------------------------- processes, memory


@dataclass(frozen=True)
class Footprint:
    processes: int
    rss_kb: int
    pss_kb: int
    uss_kb: int


def parse_smaps_rollup(text: str) -> tuple[int, int, int]:
    """(RSS, PSS, USS) in kB from ``/proc/<pid>/smaps_rollup``; USS is the private pages
    (Private_Clean + Private_Dirty)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name] = int(parts[0])
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Rss", 0), fields.get("Pss", 0), private


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _memory_kb(pid: int) -> tuple[int, int, int]:
    try:
        return parse_smaps_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:  # exited meanwhile
        return 0, 0, 0


def footprint(state_dir: Path) -> Footprint:
    """The data plane's processes (the daemon, what it records, their descendants)."""
    from harness.dataplane.state import read_state, recorded_processes

    state = read_state(state_dir) or {}
    roots = [ident.pid for ident in recorded_processes(state).values() if ident.alive()]
    tree = _children()
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(tree.get(pid, []))
    rss = pss = uss = 0
    for pid in seen:
        r, p, u = _memory_kb(pid)
        rss, pss, uss = rss + r, pss + p, uss + u
    return Footprint(len(seen), rss, pss, uss)


# --------------------------------------------------------------------------- availability


class AvailableClock:
    """When accepted endpoints turn ``available``, from the plug-in's change notice.

    Nothing else changes EC2/ELBv2 during a measurement, so after the generation read before
    the accept (``before``) comes one change for the accept call itself, then one per endpoint
    as the plug-in moves it from ``pending`` to ``available``: the first change past
    ``before + 1`` marks the moment. Long-polled in a thread, so it loads nothing while the
    data plane works.
    """

    def __init__(self, url: str, before: int, deadline_s: float) -> None:
        self.url = url
        self.before = before
        self.deadline_s = deadline_s
        self.at: float | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._watch, name="available-clock", daemon=True)

    def start(self) -> AvailableClock:
        self._thread.start()
        return self

    def _watch(self) -> None:
        seen = self.before
        end = time.monotonic() + self.deadline_s
        try:
            while seen < self.before + 2 and (left := end - time.monotonic()) > 0:
                seen = ask_changes(self.url, seen, hold_s=min(LONG_POLL_S, left)).generation
            if seen >= self.before + 2:
                self.at = time.monotonic()
        except (OSError, ValueError, ChangeNoticeAbsent) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def wait(self) -> float | None:
        self._thread.join(timeout=self.deadline_s + 15)
        return self.at


# --------------------------------------------------------------------------- one size


@dataclass
class Consumer:
    vpc_id: str
    subnet_id: str
    endpoint_id: str = ""


def _create(ec2: Any, n: int, service_name: str, az: str) -> list[Consumer]:
    made: list[Consumer] = []
    try:
        for i in range(n):
            cidr = f"{FIRST_OCTET}.{SECOND_OCTET_BASE + i}"
            vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
            consumer = Consumer(vpc, "")
            made.append(consumer)
            consumer.subnet_id = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"{cidr}.1.0/24", AvailabilityZone=az
            )["Subnet"]["SubnetId"]
            consumer.endpoint_id = ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=service_name,
                VpcEndpointType="Interface",
                SubnetIds=[consumer.subnet_id],
            )["VpcEndpoint"]["VpcEndpointId"]
    except BaseException:
        _delete(ec2, made)
        raise
    return made


def _delete(ec2: Any, consumers: list[Consumer]) -> None:
    endpoints = [c.endpoint_id for c in consumers if c.endpoint_id]
    if endpoints:
        ec2.delete_vpc_endpoints(VpcEndpointIds=endpoints)
    for c in consumers:
        if c.subnet_id:
            ec2.delete_subnet(SubnetId=c.subnet_id)
        ec2.delete_vpc(VpcId=c.vpc_id)


def _eni_targets(
    ec2: Any, consumers: list[Consumer], state_dir: Path, port: int
) -> list[tuple[str, str, int]] | None:
    """(namespace, address, port) of every new endpoint ENI, once the data plane placed all."""
    from harness.dataplane.state import read_state

    found = ec2.describe_vpc_endpoints(VpcEndpointIds=[c.endpoint_id for c in consumers])
    eni_ids = [e for ep in found["VpcEndpoints"] for e in ep.get("NetworkInterfaceIds", [])]
    hosts = (read_state(state_dir) or {}).get("hosts", {})
    if len(eni_ids) < len(consumers) or any(e not in hosts for e in eni_ids):
        return None
    return [(hosts[e]["namespace"], hosts[e]["ip"], port) for e in eni_ids]


def measure_size(
    settings: Any, outputs: dict[str, Any], ec2: Any, n: int, before: Footprint
) -> dict[str, Any]:
    from harness.processes import wait_for, wait_until

    service_id = str(outputs["endpoint_service_id"])
    [config] = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[service_id])[
        "ServiceConfigurations"
    ]
    port = int(outputs["listener_port"])
    created_at = time.monotonic()
    consumers = _create(
        ec2, n, str(outputs["endpoint_service_name"]), config["AvailabilityZones"][0]
    )
    try:
        targets: list[tuple[str, str, int]] = []

        def placed() -> bool:
            got = _eni_targets(ec2, consumers, settings.state_dir, port)
            targets[:] = got or []
            return got is not None

        wait_for(f"the data plane to place {n} endpoint ENIs", placed, PLACE_DEADLINE_S)
        placed_s = time.monotonic() - created_at
        early = forwarding(settings.state_dir, targets)
        if early:
            raise HarnessError(
                f"{len(early)} pending endpoints already forward before acceptance",
                hint="a pending endpoint must carry no traffic (planner._endpoint_listeners)",
            )
        before_accept = ask_changes(settings.localstack_url).generation
        clock = AvailableClock(settings.localstack_url, before_accept, CONVERGE_DEADLINE_S)
        clock.start()
        started = time.monotonic()
        ec2.accept_vpc_endpoint_connections(
            ServiceId=service_id, VpcEndpointIds=[c.endpoint_id for c in consumers]
        )
        accept_call_s = time.monotonic() - started

        def forwarders() -> int:
            # Nothing forwards before the endpoints are available (checked above for pending
            # ones): no sweep until then, so the bench takes no CPU from the data plane while
            # it waits.
            return 0 if clock.at is None else len(forwarding(settings.state_dir, targets))

        wait_until(
            f"all {n} accepted endpoints to forward",
            forwarders,
            lambda count: count == len(targets),
            CONVERGE_DEADLINE_S,
            poll_s=SWEEP_S,
            show=lambda count: f"{count} of {len(targets)} forwarding",
        )
        converged_at = time.monotonic()
        available_at = clock.wait()
        if available_at is None:
            raise HarnessError(
                f"the plug-in's change notice did not tell when the endpoints became available"
                f" ({clock.error or 'no change seen'})",
                hint="is the plug-in of this checkout installed (`python -m harness localstack"
                " install`)?",
            )
        states = {
            ep["State"]
            for ep in ec2.describe_vpc_endpoints(VpcEndpointIds=[c.endpoint_id for c in consumers])[
                "VpcEndpoints"
            ]
        }
        if states != {"available"}:
            raise HarnessError(
                f"endpoints forward while in states {sorted(states)}",
                hint="only an available endpoint carries traffic (planner._endpoint_listeners)",
            )
        after = footprint(settings.state_dir)
    finally:
        _delete(ec2, consumers)
    return {
        "endpoints": n,
        "created_and_placed_s": round(placed_s, 2),
        "accept_call_s": round(accept_call_s, 3),
        "available_after_accept_s": round(available_at - started, 3),
        "converged_after_accept_s": round(converged_at - started, 3),
        "dataplane_after_available_s": round(converged_at - available_at, 3),
        "processes": after.processes,
        "processes_added": after.processes - before.processes,
        "rss_mb": round(after.rss_kb / 1024, 1),
        "rss_per_endpoint_mb": round((after.rss_kb - before.rss_kb) / 1024 / n, 2),
        "pss_per_endpoint_mb": round((after.pss_kb - before.pss_kb) / 1024 / n, 2),
        "uss_per_endpoint_mb": round((after.uss_kb - before.uss_kb) / 1024 / n, 2),
    }


def _back_to(settings: Any, baseline: int) -> None:
    """Wait until the data plane is back to ``baseline`` hosts (the consumers are gone)."""
    from harness.dataplane.state import read_state
    from harness.processes import wait_for

    wait_for(
        "the data plane to remove the deleted consumers",
        lambda: len((read_state(settings.state_dir) or {}).get("hosts", {})) == baseline,
        PLACE_DEADLINE_S,
    )


def run(
    settings: Any, outputs: dict[str, Any], clients: Any, sizes: tuple[int, ...] = SIZES
) -> list[dict[str, Any]]:
    from harness.dataplane.state import read_state

    ec2 = clients.ec2()
    baseline_hosts = len((read_state(settings.state_dir) or {}).get("hosts", {}))
    rows = []
    for n in sizes:
        before = footprint(settings.state_dir)
        rows.append(measure_size(settings, outputs, ec2, n, before))
        _back_to(settings, baseline_hosts)
    return rows


def format_report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "scale: consumer VPCs with an endpoint each, accepted in one call",
        f"  {'endpoints':>9} {'converge s':>10} {'avail s':>8} {'own s':>6} {'+procs':>7}"
        f" {'RSS MB/ep':>10} {'PSS MB/ep':>10} {'USS MB/ep':>10} {'placed s':>9}",
    ]
    for r in rows:
        lines.append(
            f"  {r['endpoints']:>9} {r['converged_after_accept_s']:>10.2f}"
            f" {r['available_after_accept_s']:>8.2f} {r['dataplane_after_available_s']:>6.2f}"
            f" {r['processes_added']:>7} {r['rss_per_endpoint_mb']:>10.2f}"
            f" {r['pss_per_endpoint_mb']:>10.2f} {r['uss_per_endpoint_mb']:>10.2f}"
            f" {r['created_and_placed_s']:>9.1f}"
        )
    lines += [
        "  converge: accept call -> every ENI forwards; avail: accept -> the plug-in's pending ->"
        " available;",
        "  own: the data plane's part (available -> every ENI forwards). Memory added per"
        " endpoint:",
        "  RSS counts shared pages in every process, PSS shares them out, USS is private pages"
        " only.",
    ]
    return "\n".join(lines)
