"""HAProxy in TCP mode: the NLB nodes and the endpoint bridge, one master-worker process.

Each listener binds inside the namespace that owns its address (``bind ... namespace``) and
connects from the namespace of its servers (``server ... namespace``): an NLB node connects
to targets from its own address (so targets see the node as source), and an endpoint ENI
connects to the NLB node from the node's namespace, so the two VPCs never get a route to each
other. A change of configuration is a master-worker reload (SIGUSR2): the old worker finishes
its open connections, the new one takes new ones; check results survive through the
server-state file.

AWS behaviour carried by the configuration (docs/aws-behaviour.md):

- idle TCP flows are closed after 350 s, on each hop (NLB/update-idle-timeout.html);
- a target turning unhealthy gets its open connections reset (``on-marked-down
  shutdown-sessions``; NLB/target-group-health-checks.html, unhealthy connection termination on
  by default);
- a newly added target gets no traffic until ``healthy_threshold`` checks pass: HAProxy 2.6
  starts a new server UP, so :meth:`HAProxy.apply` writes it into the server-state file as DOWN
  and the ``rise`` checks bring it up (NLB/target-group-health-checks.html);
- PrivateLink traffic enters an NLB node through a loopback bind that accepts PROXY v2 from the
  endpoint ENI's listener, so the node sees the consumer's address: the NLB security group is
  evaluated on it (``tcp-request session``, after the header) and a proxy-protocol target
  group gets it in its header (NLB/load-balancer-security-groups.html, Considerations).
"""

from __future__ import annotations

import contextlib
import csv
import io
import signal
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.dataplane.netns import NamespacedProcess
from harness.errors import DataPlaneError, WaitTimeout
from harness.lifecycle import Lifecycle, log_tail
from harness.processes import wait_for

RELOAD_DRAIN_S = 3.0
MAX_SOCKET_PATH = 97  # HAProxy 2.6: "socket path ... too long (max 97)"
IDLE_TIMEOUT_S = 350  # NLB/update-idle-timeout.html: TCP idle timeout default
# The PROXY v2 TLV (PP2_TYPE_UNIQUE_ID) HAProxy 2.6 can forward: the endpoint id rides in it
# from the ENI listener to the node and on to the relay in :mod:`harness.dataplane.ppv2`.
NODE_UNIQUE_ID = "%[fc_pp_unique_id]"


@dataclass(frozen=True)
class HealthCheckSpec:
    """What a target group's health check becomes: httpchk when ``path`` is set, else TCP."""

    path: str | None
    interval_s: int
    rise: int
    fall: int
    port: int | None = None  # None: the traffic port
    matcher: str = "200-399"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    address: str
    port: int
    namespace: str
    backup: bool = False
    # A PROXY v2 header (with the unique-id TLV) on every connection to this server.
    send_proxy: bool = False
    # Health checks go here instead of address:port (a server reached through the PPv2 relay).
    check_address: tuple[str, int] | None = None


@dataclass(frozen=True)
class ProxySpec:
    """One listener (frontend) and its backend: bind ip:port in a namespace, forward to servers.

    ``privatelink_bind``: a second bind (loopback ip, port) in the same namespace that takes
    PROXY v2 from endpoint ENIs; ``privatelink_allow``: the sources the NLB security group
    admits on that traffic (None: not evaluated); ``unique_id``: the unique-id TLV sent to
    servers with ``send_proxy``.
    """

    name: str
    bind_ip: str
    bind_port: int
    bind_namespace: str
    servers: tuple[ServerSpec, ...]
    check: HealthCheckSpec | None = None
    privatelink_bind: tuple[str, int] | None = None
    privatelink_allow: tuple[str, ...] | None = None
    unique_id: str | None = None


# The server-state file's columns (``show servers state``, format 1).
_STATE_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn "
    "srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)


def render_config(proxies: Iterable[ProxySpec], stats_socket: Path, state_file: Path) -> str:
    """The whole haproxy.cfg; equal input renders byte-equal text (no reload when unchanged)."""
    out = [
        "global",
        f"    stats socket {stats_socket} mode 600 level admin expose-fd listeners",
        f"    server-state-file {state_file}",
        "    maxconn 2048",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        f"    timeout client {IDLE_TIMEOUT_S}s",
        f"    timeout server {IDLE_TIMEOUT_S}s",
        "    timeout check 3s",
        "    load-server-state-from-file global",
        "    default-server on-marked-down shutdown-sessions",
        "",
    ]
    for proxy in sorted(proxies, key=lambda p: p.name):
        out.append(f"listen {proxy.name}")
        out.append(f"    bind {proxy.bind_ip}:{proxy.bind_port} namespace {proxy.bind_namespace}")
        if proxy.privatelink_bind is not None:
            ip, port = proxy.privatelink_bind
            out.append(f"    bind {ip}:{port} namespace {proxy.bind_namespace} accept-proxy")
        if proxy.privatelink_allow is not None:
            # Session rules see the addresses from the PROXY header: the consumer's.
            allowed = " ".join(sorted(set(proxy.privatelink_allow)))
            condition = f" !{{ src {allowed} }}" if allowed else ""
            out.append(f"    tcp-request session reject if {{ fc_rcvd_proxy }}{condition}")
        if proxy.unique_id:
            out.append(f"    unique-id-format {proxy.unique_id}")
        check = proxy.check
        check_args = ""
        if check is not None:
            if check.path:
                out.append(f"    option httpchk GET {check.path}")
                out.append(f"    http-check expect status {check.matcher}")
            check_args = f" check inter {check.interval_s}s rise {check.rise} fall {check.fall}"
        for server in sorted(proxy.servers, key=lambda s: s.name):
            line = (
                f"    server {server.name} {server.address}:{server.port}"
                f" namespace {server.namespace}{check_args}"
            )
            if check is not None:
                if server.check_address is not None:
                    line += f" addr {server.check_address[0]}"
                    port = check.port if check.port is not None else server.check_address[1]
                    line += f" port {port}"
                elif check.port is not None:
                    line += f" port {check.port}"
            if server.send_proxy:
                line += " send-proxy-v2 proxy-v2-options unique-id"
                if check is not None:
                    # AWS: health checks carry a PROXY v2 header too (a LOCAL one).
                    line += " check-send-proxy"
            if server.backup:
                line += " backup"
            out.append(line)
        out.append("")
    return "\n".join(out)


# HAProxy's check_status values for a check that passed (layer 4, 6 and 7).
_PASSED_CHECKS = frozenset({"L4OK", "L6OK", "L7OK", "L7OKC"})


@dataclass(frozen=True)
class ServerStatus:
    proxy: str
    server: str
    status: str  # UP, DOWN, MAINT, "UP 1/2", "no check" ...
    check_status: str  # L7OK, L4CON, INI, ...
    check_desc: str
    # Added DOWN and not UP yet: its passing checks are still counting to ``rise`` (AWS:
    # `initial` until healthy_threshold checks pass).
    initial: bool = False

    @property
    def checked(self) -> bool:
        # Still counting passes ("DOWN 1/2"), or counting again: a reload loads a DOWN server
        # with its pass count at 0 (HAProxy 2.6 server-state file) but keeps its last check's
        # status, so a rising target reads "DOWN" after a passed check.
        if (
            self.initial
            and self.status.startswith("DOWN")
            and ("/" in self.status or self.check_status in _PASSED_CHECKS)
        ):
            return False
        return bool(self.check_status) and not self.check_status.startswith("INI")

    @property
    def up(self) -> bool:
        return self.status.startswith("UP") or self.status == "no check"


def parse_stat(csv_text: str) -> list[ServerStatus]:
    """``show stat`` CSV -> one ServerStatus per server row."""
    text = csv_text.lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    result = []
    for row in rows:
        name = row.get("svname", "")
        if name in ("FRONTEND", "BACKEND", ""):
            continue
        result.append(
            ServerStatus(
                proxy=row.get("pxname", ""),
                server=name,
                status=row.get("status", ""),
                check_status=(row.get("check_status") or "").strip("* "),
                check_desc=row.get("check_desc") or "",
            )
        )
    return result


class HAProxy(Lifecycle):
    """One haproxy master-worker serving every NLB node and endpoint ENI of an environment."""

    def __init__(self, state_dir: Path, name: str, log_path: Path, socket_dir: Path) -> None:
        """Files go in ``state_dir``; the two UNIX sockets in ``socket_dir``, a short path:
        HAProxy 2.6 refuses a socket path over 97 characters (it binds ``<path>.<pid>.tmp``
        first), which a state directory under a deep checkout or pytest's tmp_path exceeds."""
        self.config_file = state_dir / f"{name}.cfg"
        self.state_file = state_dir / f"{name}.state"
        self.stats_socket = socket_dir / f"{name}.sock"
        self.master_socket = socket_dir / f"{name}-master.sock"
        for path in (self.stats_socket, self.master_socket):
            if len(str(path)) > MAX_SOCKET_PATH:
                raise DataPlaneError(
                    f"the HAProxy socket path {path} is longer than {MAX_SOCKET_PATH} characters",
                    hint="this is a bug in harness/dataplane/reconciler.py (runtime_dir)",
                )
        self.log_path = log_path
        self._text: str | None = None
        self._checked: set[tuple[str, str]] = set()  # (proxy, server) with health checks
        self._rising: set[tuple[str, str]] = set()  # added DOWN, not seen UP yet
        self.process = NamespacedProcess(
            "haproxy",
            ["haproxy", "-W", "-db", "-S", str(self.master_socket), "-f", str(self.config_file)],
            log_path=log_path,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def running(self) -> bool:
        return self.process.running()

    def apply(self, proxies: Iterable[ProxySpec]) -> bool:
        """Serve ``proxies``; True when the configuration changed (started or reloaded)."""
        text = render_config(proxies, self.stats_socket, self.state_file)
        if text == self._text and self.process.running():
            return False
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        candidate = self.config_file.with_suffix(".new")
        candidate.write_text(text)
        check = subprocess.run(
            # Not -q: it silences the alerts that say what is wrong.
            ["haproxy", "-c", "-f", str(candidate)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check.returncode != 0:
            raise DataPlaneError(
                "haproxy rejected the generated configuration: "
                + (check.stderr.strip() or check.stdout.strip() or f"exit {check.returncode}"),
                hint=f"this is a bug in harness/haproxy.py; the file is {candidate}",
            )
        checked = {
            (p.name, server.name): (server.address, server.port)
            for p in proxies
            if p.check is not None
            for server in p.servers
        }
        if self.process.running():
            self._save_server_state()
            self._readdress(
                {(p.name, x.name): (x.address, x.port) for p in proxies for x in p.servers}
            )
            self._start_down({k: v for k, v in checked.items() if k not in self._checked})
            candidate.replace(self.config_file)
            self._reload()
        else:
            self.state_file.unlink(missing_ok=True)
            self._start_down(checked)
            candidate.replace(self.config_file)
            self.stats_socket.parent.mkdir(parents=True, exist_ok=True)
            self.process.start()
            wait_for("haproxy's stats socket", self._answers, 30)
        self._text = text
        self._checked = set(checked)
        self._rising &= self._checked
        return True

    def _readdress(self, servers: dict[tuple[str, str], tuple[str, int]]) -> None:
        """Saved states keep their health but take the server's address from the new
        configuration: HAProxy applies a saved address and port over the configured ones (a
        target that moved behind the proxy-protocol relay would still be dialled directly)."""
        if not self.state_file.exists():
            return
        lines = self.state_file.read_text().splitlines()
        for i, line in enumerate(lines):
            fields = line.split()
            if len(fields) > 18 and not line.startswith("#"):
                key = (fields[1], fields[3])
                if key in servers:
                    fields[4], fields[18] = servers[key][0], str(servers[key][1])
                    lines[i] = " ".join(fields)
        self.state_file.write_text("\n".join(lines) + "\n")

    def _start_down(self, servers: dict[tuple[str, str], tuple[str, int]]) -> None:
        """Enter ``servers`` in the server-state file as DOWN with no passed check, so they
        need ``rise`` passing checks before the first connection."""
        if not servers:
            return
        lines = self.state_file.read_text().splitlines() if self.state_file.exists() else []
        if not lines:
            lines = ["1", _STATE_HEADER]
        known = {tuple(f.split()[1:4:2]) for f in lines[1:] if f and not f.startswith("#")}
        for (proxy, server), (address, port) in sorted(servers.items()):
            if (proxy, server) in known:
                continue
            # Ids 0: HAProxy matches the entry by proxy and server name. Operational state 0
            # (stopped), check health 0: ``rise`` passing checks to come up.
            lines.append(
                f"0 {proxy} 0 {server} {address} 0 0 1 1 0 1 0 0 6 0 0 0 - {port} - 0 0 - - 0"
            )
        self.state_file.write_text("\n".join(lines) + "\n")
        self._rising |= set(servers)

    def _workers(self) -> tuple[list[int], list[int]] | None:
        """(current, old) worker pids from the master CLI; None when it does not answer."""
        try:
            text = self._send(self.master_socket, "show proc;quit")
        except OSError:
            return None
        current: list[int] = []
        old: list[int] = []
        section = current
        for line in text.splitlines():
            if line.startswith("# old workers"):
                section = old
            elif line.startswith("# workers"):
                section = current
            elif line and line.split()[0].isdigit() and "worker" in line:
                section.append(int(line.split()[0]))
        return current, old

    def _reload(self) -> None:
        """Reload and wait until the new worker serves and old ones stopped listening.

        An old worker with open connections finishes them (that is the point of a reload);
        past the deadline we go on, it no longer accepts new ones.
        """
        before = self._workers()
        previous = set(before[0]) if before else set()
        self.process.signal(signal.SIGUSR2)

        def new_worker_up() -> bool:
            workers = self._workers()
            return workers is not None and bool(workers[0]) and not set(workers[0]) & previous

        wait_for("the reloaded haproxy worker", new_worker_up, 30)
        with contextlib.suppress(WaitTimeout):
            wait_for(
                "old haproxy workers to finish their connections",
                lambda: not (self._workers() or ([], [1]))[1],
                RELOAD_DRAIN_S,
            )

    def _save_server_state(self) -> None:
        state = self._try_command("show servers state")
        if state is not None:
            self.state_file.write_text(state)

    def _answers(self) -> bool:
        """True once the stats socket answers; a HAProxy that exited fails at once, with why."""
        if self._try_command("show info") is not None:
            return True
        if not self.process.running():
            raise DataPlaneError(
                "haproxy exited during start-up:\n" + log_tail(self.log_path, 10),
                hint=f"its configuration is {self.config_file}",
            )
        return False

    def _try_command(self, command: str) -> str | None:
        try:
            return self.command(command)
        except OSError:
            return None

    def command(self, command: str) -> str:
        return self._send(self.stats_socket, command)

    @staticmethod
    def _send(path: Path, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_status(self) -> list[ServerStatus]:
        """Every server's state as the current worker sees it; empty when not answering."""
        text = self._try_command("show stat")
        statuses = parse_stat(text) if text else []
        self._rising -= {(s.proxy, s.server) for s in statuses if s.up}
        return [replace(s, initial=(s.proxy, s.server) in self._rising) for s in statuses]

    def start(self) -> HAProxy:
        self.apply([])
        return self

    def stop(self) -> None:
        self.process.stop()
        for path in (self.config_file, self.stats_socket, self.state_file, self.master_socket):
            with contextlib.suppress(OSError):
                path.unlink()
