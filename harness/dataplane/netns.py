"""Network namespaces, the per-VPC bridge, and processes that run inside namespaces.

Nothing here touches the root namespace's interfaces, routes or firewall: veth pairs are
created inside the VPC's router namespace with their peer placed straight into the host's
namespace, so no interface ever appears on the host.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from harness.errors import DataPlaneError, PrerequisiteError
from harness.lifecycle import Lifecycle
from harness.processes import die_with_parent

NETNS_RUN = Path("/run/netns")
NETNS_ETC = Path("/etc/netns")


def short_hash(text: str, length: int = 6) -> str:
    """A stable short name part for an AWS id (interface names are limited to 15 chars)."""
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def require_root() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "the local data plane needs root (it creates network namespaces)",
            hint="run as root (sudo), or run the harness in its privileged container "
            "(README, 'Without root')",
        )
    for program in ("ip", "nft", "haproxy", "dnsmasq"):
        if shutil.which(program) is None:
            raise PrerequisiteError(
                f"{program} is not installed",
                hint="apt-get install iproute2 nftables haproxy dnsmasq-base",
            )


def run(
    args: Sequence[str],
    *,
    input_text: str | None = None,
    check: bool = True,
    timeout_s: float = 30.0,
) -> str:
    """Run a command; a failure or a hang past ``timeout_s`` becomes a DataPlaneError."""
    try:
        proc = subprocess.run(
            list(args), input=input_text, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        # The daemon must not hang on one stuck command; the next pass tries again.
        raise DataPlaneError(
            f"`{' '.join(args)}` did not finish within {timeout_s:.0f}s",
            hint="see what blocks it (`ps`, the kernel log); the daemon retries on its next pass",
        ) from exc
    if check and proc.returncode != 0:
        raise DataPlaneError(
            f"`{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()}",
            hint="see the command's message; `python -m harness status` shows the data plane",
        )
    return proc.stdout


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_exists(name: str) -> bool:
    return (NETNS_RUN / name).exists()


def namespace_pids(name: str) -> list[int]:
    out = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def delete_namespace(name: str) -> None:
    """Kill what runs inside ``name``, then delete it and its /etc/netns directory."""
    for pid in namespace_pids(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if namespace_exists(name):
        run(["ip", "netns", "delete", name], check=False)
    shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


def ns_exec(namespace: str, args: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *args]


@dataclass(frozen=True)
class RouterSpec:
    """The namespace that holds one VPC's bridge, its implicit router and its resolver."""

    namespace: str
    bridge: str
    cidr: str
    router_ip: str
    resolver_ip: str


@dataclass(frozen=True)
class HostSpec:
    """One address in a VPC: an instance, an NLB node or an endpoint ENI, in its namespace."""

    namespace: str
    kind: str  # instance | nlb-node | endpoint-eni
    ref: str  # instance id, "<lb name>/<az>", ENI id
    vpc_id: str
    router_namespace: str
    ip: str
    prefixlen: int
    vpc_cidr: str
    router_ip: str
    resolver_ip: str

    @property
    def veth(self) -> str:
        """The router-side end of this host's veth (the host side is always eth0)."""
        return "v" + short_hash(self.namespace, 10)


def create_router(spec: RouterSpec) -> None:
    """Namespace + bridge with base+1 (router) and base+2 (resolver), forwarding on."""
    prefix = ipaddress.IPv4Network(spec.cidr).prefixlen
    ns = spec.namespace
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    # A set address, not the kernel's default: a bridge left to choose takes the lowest MAC of
    # its ports, so a host joining with a lower one (a new ENI) changed the router's MAC under
    # every host's cached neighbour entry, and they lost the router and the resolver for as
    # long as the entry lived (~30 s). An address set by hand is kept (addr_assign_type 3).
    add_bridge = ["ip", "-n", ns, "link", "add", spec.bridge, "address", stable_mac(ns)]
    run([*add_bridge, "type", "bridge"])
    run(["ip", "-n", ns, "addr", "add", f"{spec.router_ip}/{prefix}", "dev", spec.bridge])
    run(["ip", "-n", ns, "addr", "add", f"{spec.resolver_ip}/{prefix}", "dev", spec.bridge])
    run(["ip", "-n", ns, "link", "set", spec.bridge, "up"])
    # Both knobs are per namespace: the host's own settings are untouched.
    run(ns_exec(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))
    run(ns_exec(ns, ["sysctl", "-q", "-w", f"net.ipv4.conf.{spec.bridge}.send_redirects=0"]))
    run(ns_exec(ns, ["sysctl", "-q", "-w", "net.ipv4.conf.all.send_redirects=0"]))
    # Where br_netfilter is loaded (Docker loads it), frames the bridge switches between hosts
    # of one VPC would also go through this namespace's IP hooks, which hold no rules: wasted
    # work on every packet. Off in this namespace only (the knobs are per namespace).
    if Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        knobs = [f"net.bridge.bridge-nf-call-{t}=0" for t in ("iptables", "ip6tables", "arptables")]
        run(ns_exec(ns, ["sysctl", "-q", "-w", *knobs]))


def stable_mac(namespace: str) -> str:
    """A locally administered unicast MAC that is the same whenever ``namespace`` is made."""
    digest = hashlib.sha256(namespace.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


FORWARDING_KINDS = ("endpoint-eni", "nlb-node")


def create_host(spec: HostSpec) -> None:
    """Namespace at ``spec.ip`` on the VPC bridge; VPC CIDR via the router; resolv.conf."""
    ns = spec.namespace
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    router = spec.router_namespace
    add_veth = ["ip", "-n", router, "link", "add", spec.veth, "type", "veth"]
    # eth0 keeps its MAC when the namespace is made again (an ENI's MAC is fixed for its life):
    # the other hosts' neighbour entries for this address stay right after a rebuild.
    add_veth += ["peer", "name", "eth0", "address", stable_mac(ns), "netns", ns]
    try:
        run(add_veth)
    except DataPlaneError as exc:
        if "File exists" not in str(exc):
            raise
        # The router still has this veth: its peer was the eth0 of a namespace of the same
        # name that is gone from the name table but not yet from the kernel (deleted by hand
        # while a process still held it, or not torn down yet: namespaces are destroyed
        # asynchronously). That namespace is no longer reachable by name, so its link goes.
        run(["ip", "-n", router, "link", "del", spec.veth], check=False)
        run(add_veth)
    bridge = router_bridge(router)
    run(["ip", "-n", router, "link", "set", spec.veth, "master", bridge, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{spec.ip}/{spec.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(
        [
            "ip",
            "-n",
            ns,
            "route",
            "add",
            spec.vpc_cidr,
            "via",
            spec.router_ip,
            "dev",
            "eth0",
            "onlink",
        ]
    )
    if spec.kind in FORWARDING_KINDS:
        # The kernel forwarder's two ends (harness/dataplane/forwarder.py); only flows it
        # NATs pass their forward chains. Set here, while placing, not when an endpoint
        # turns available.
        run(ns_exec(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))
    etc = NETNS_ETC / ns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(f"nameserver {spec.resolver_ip}\n")


def router_bridge(router_namespace: str) -> str:
    out = run(["ip", "-n", router_namespace, "-o", "link", "show", "type", "bridge"])
    for line in out.splitlines():
        return line.split(":")[1].strip().split("@")[0]
    raise DataPlaneError(
        f"router namespace {router_namespace} has no bridge",
        hint="stop the data plane (`make destroy`) and deploy again",
    )


class NamespacedProcess(Lifecycle):
    """A long-lived program, optionally inside a namespace; start()/stop(), context manager."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        namespace: str | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.namespace = namespace
        self.env = env
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> NamespacedProcess:
        if self.running():
            return self
        argv = ns_exec(self.namespace, self.args) if self.namespace else self.args
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
                env=self.env,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        except OSError as exc:
            raise DataPlaneError(
                f"could not start {self.name}: {exc}", hint="is the program installed?"
            ) from exc
        return self

    def signal(self, signum: int) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signum)

    def stop(self, timeout_s: float = 5.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        self._proc = None
        if self._log:
            self._log.close()
            self._log = None


class OneProcess(Lifecycle):
    """Something that is one :class:`NamespacedProcess` (JERP on a host, a relay): its pid,
    liveness, start and stop are that process's."""

    process: NamespacedProcess

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def running(self) -> bool:
        return self.process.running()

    def start(self) -> Self:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()
