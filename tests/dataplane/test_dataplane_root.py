"""The data plane for real: namespaces, HAProxy, dnsmasq, nftables and JERP on the seed topology.

Needs root (network namespaces). Run: ``sudo .venv/bin/pytest -m root tests/dataplane``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.dataplane.netns import list_namespaces
from harness.dataplane.planner import new_env_id
from harness.dataplane.reconciler import DataPlane
from harness.dataplane.topology import Topology
from harness.processes import wait_for

from .seed_topology import LB_DNS, VPCE_DNS, VPCE_ZONE_A, make_topology

GREETING = "Hello yundream!. How are you"
JERP_PYTHON = sys.executable

pytestmark = pytest.mark.root


@dataclass
class Env:
    plane: DataPlane
    topology: Topology
    reports: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def ns(self, ref: str) -> str:
        return f"{self.plane.env_id}-{ref}"

    def sh(self, ref: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(ref), *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def converge(self, topology: Topology) -> list[str]:
        self.topology = topology
        return self.plane.reconcile()

    def until(self, description: str, check: Callable[[], bool], timeout_s: float = 30) -> None:
        """Reconcile (as the daemon does every 2 s) until ``check`` holds."""

        def step() -> bool:
            self.plane.reconcile()
            return check()

        wait_for(description, step, timeout_s)


def _require_jerp() -> None:
    if importlib.util.find_spec("jerp.__main__") is None:
        pytest.skip("JERP (jerp/__main__.py) is not in this checkout; these tests run the real one")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    _require_jerp()
    holder: list[Env] = []
    plane = DataPlane(
        tmp_path_factory.mktemp("dataplane"),
        new_env_id("jd"),
        lambda: holder[0].topology,
        lambda arn, targets: holder[0].reports.append((arn, targets)),
        python=JERP_PYTHON,
    )
    holder.append(Env(plane, make_topology()))
    with plane:
        holder[0].until("JERP listening on both targets", lambda: not plane.problems())
        holder[0].until("both targets healthy", lambda: _both_healthy(holder[0]))
        yield holder[0]


def curl(env: Env, ref: str, url: str, seconds: int = 3) -> subprocess.CompletedProcess[str]:
    return env.sh(ref, "curl", "-sS", "-m", str(seconds), url)


def greeting_works(env: Env, host: str = VPCE_DNS) -> bool:
    result = curl(env, "i-client", f"http://{host}/user/yundream")
    return result.returncode == 0 and result.stdout.strip() == GREETING


def test_greeting_over_the_vpce_name_from_the_consumer_client(env: Env) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    for address in ("10.20.1.50", "10.20.3.50", VPCE_ZONE_A):
        assert greeting_works(env, address), address


def test_nlb_name_resolves_over_udp_to_node_addresses_from_the_provider_vpc(env: Env) -> None:
    out = env.sh("i-jerp-a", "nslookup", LB_DNS).stdout
    assert "Server:\t\t10.10.0.2" in out
    assert "Address: 10.10.1.100" in out and "Address: 10.10.3.100" in out
    dig = env.sh("i-jerp-a", "dig", "+notcp", "+short", LB_DNS)
    assert sorted(dig.stdout.split()) == ["10.10.1.100", "10.10.3.100"]


def test_both_resolvers_answer_the_endpoint_names_over_udp_and_tcp(env: Env) -> None:
    for ref in ("i-client", "i-jerp-c"):
        for transport in ("+notcp", "+tcp"):
            regional = env.sh(ref, "dig", transport, "+short", VPCE_DNS).stdout.split()
            assert sorted(regional) == ["10.20.1.50", "10.20.3.50"], (ref, transport)
        zonal = env.sh(ref, "dig", "+short", VPCE_ZONE_A).stdout.split()
        assert zonal == ["10.20.1.50"]
    server = env.sh("i-client", "dig", VPCE_DNS).stdout
    assert "SERVER: 10.20.0.2#53(10.20.0.2) (UDP)" in server


def test_other_names_get_nxdomain_at_once_not_a_timeout(env: Env) -> None:
    result = env.sh("i-client", "dig", "+time=2", "+tries=1", "example.com")
    assert result.returncode == 0
    assert "status: NXDOMAIN" in result.stdout


def test_no_route_between_the_vpcs(env: Env) -> None:
    assert env.sh("i-client", "ip", "route", "get", "10.10.1.217").returncode != 0
    assert curl(env, "i-client", "http://10.10.1.217:8080/healthz").returncode == 7
    assert curl(env, "i-client", "http://10.10.1.100/").returncode == 7
    # The provider side cannot open connections into the consumer VPC either.
    assert env.sh("i-jerp-a", "ip", "route", "get", "10.20.1.10").returncode != 0
    router = subprocess.run(
        ["ip", "-n", env.ns("vpc-consumer"), "route", "get", "10.10.1.217"],
        capture_output=True,
        text=True,
    )
    assert router.returncode != 0


def test_targets_see_the_nlb_node_address_as_source(env: Env) -> None:
    table = "inet jd_probe"
    script = (
        f"table {table} {{\n  chain c {{\n    type filter hook input priority -10;\n"
        "    ip saddr 10.10.1.100 tcp dport 8080 counter\n"
        "    ip saddr 10.20.0.0/16 tcp dport 8080 counter\n  }\n}\n"
    )
    ns = env.ns("i-jerp-a")
    nft = ["ip", "netns", "exec", ns, "nft"]
    subprocess.run([*nft, "-f", "-"], input=script, text=True, check=True)
    try:
        env.until(
            "the greeting via the AZ-a endpoint ENI", lambda: greeting_works(env, "10.20.1.50")
        )
        listing = subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "list", "table", *table.split()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", *table.split()])
    node_line, consumer_line = (line for line in listing.splitlines() if "counter" in line)
    assert "packets 0 " not in node_line
    assert "packets 0 " in consumer_line


def test_reconciling_again_with_nothing_changed_changes_nothing(env: Env) -> None:
    env.converge(make_topology())
    assert env.plane.reconcile() == []


def test_dropping_the_endpoint_sg_rule_stops_traffic_and_restoring_it_brings_it_back(
    env: Env,
) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    changes = env.converge(make_topology(allow_http=False))
    assert any("security groups" in c for c in changes)
    try:
        result = curl(env, "i-client", f"http://{VPCE_DNS}/user/yundream", seconds=2)
        assert result.returncode == 28  # dropped, not refused: a timeout
    finally:
        env.converge(make_topology())
    assert greeting_works(env)


def test_a_pending_endpoint_refuses_connections_until_accepted(env: Env) -> None:
    env.converge(make_topology(endpoint_state="pendingAcceptance"))
    try:
        assert curl(env, "i-client", f"http://{VPCE_DNS}/user/yundream").returncode == 7
        env.converge(make_topology(endpoint_state="rejected"))
        assert curl(env, "i-client", f"http://{VPCE_DNS}/user/yundream").returncode == 7
    finally:
        env.converge(make_topology())
    env.until("the greeting after acceptance", lambda: greeting_works(env))


def test_a_stopped_instance_stops_its_jerp_and_is_reported_unhealthy(env: Env) -> None:
    env.converge(make_topology(stopped=("i-jerp-c",)))
    try:
        assert set(env.plane.jerps) == {"i-jerp-a"}
        listening = env.sh("i-jerp-c", "ss", "-Hltn").stdout
        assert ":8080" not in listening
        reported = [t for _, targets in env.reports for t in targets if t["id"] == "i-jerp-c"]
        assert reported[-1]["state"] == "unhealthy"
        assert reported[-1]["reason"] == "Target.InvalidState"
        # Cross-zone off: the AZ-c ENI still reaches JERP through the AZ-a node (its backup).
        env.until("the greeting via the AZ-c ENI", lambda: greeting_works(env, "10.20.3.50"))
    finally:
        env.converge(make_topology())
    env.until("JERP back on i-jerp-c", lambda: not env.plane.problems())


def _both_healthy(env: Env) -> bool:
    latest: dict[str, str] = {}
    for _, targets in env.reports:
        latest.update({t["id"]: t["state"] for t in targets})
    return latest.get("i-jerp-a") == "healthy" and latest.get("i-jerp-c") == "healthy"


def test_health_checks_are_reported_to_the_control_plane(env: Env) -> None:
    env.until("both targets reported healthy", lambda: _both_healthy(env))
    assert all(t["state"] == "healthy" for t in env.reports[-1][1])


def test_a_namespace_deleted_by_hand_is_rebuilt(env: Env) -> None:
    subprocess.run(["ip", "netns", "delete", env.ns("i-client")], check=True)
    changes = env.plane.reconcile()
    assert f"created host namespace {env.ns('i-client')}" in changes
    env.until("the greeting from the rebuilt client", lambda: greeting_works(env))


def test_teardown_leaves_no_namespace_process_or_file(tmp_path: Path) -> None:
    _require_jerp()
    env_id = new_env_id("jd")
    topology = make_topology()
    with DataPlane(tmp_path, env_id, lambda: topology, python=JERP_PYTHON) as plane:
        pids = [p for p in [plane.haproxy.pid, *(r.pid for r in plane.resolvers.values())] if p]
        pids += [j.pid for j in plane.jerps.values() if j.pid]
        assert len(pids) == 5  # haproxy, 2 dnsmasq, 2 JERP
        assert any(ns.startswith(env_id) for ns in list_namespaces())
    assert not [ns for ns in list_namespaces() if ns.startswith(env_id)]
    assert not [p for p in Path("/etc/netns").glob(f"{env_id}-*")]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid
    assert not list(tmp_path.glob(f"run-{env_id}*"))


def _is_zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


def test_stop_dataplane_removes_what_a_dead_daemon_left(tmp_path: Path) -> None:
    from harness.dataplane.daemon import stop_dataplane
    from harness.dataplane.state import read_state, write_state
    from harness.settings import load_settings

    settings = load_settings(HARNESS_STATE_DIR=str(tmp_path))
    env_id = new_env_id("jd")
    leftovers = [f"{env_id}-vpc-x", f"{env_id}-i-x"]
    for ns in leftovers:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    (Path("/etc/netns") / leftovers[1]).mkdir(parents=True)
    (tmp_path / f"run-{env_id}").mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    write_state(tmp_path, {"pid": dead.pid, "env_id": env_id, "namespaces": leftovers})

    stop_dataplane(settings)

    assert not [ns for ns in list_namespaces() if ns.startswith(env_id)]
    assert not (Path("/etc/netns") / leftovers[1]).exists()
    assert not (tmp_path / f"run-{env_id}").exists()
    assert read_state(tmp_path) is None


def _served_by(env: Env, address: str) -> str:
    result = env.sh("i-client", "curl", "-sS", "-m", "3", "-D", "-", "-o", "/dev/null", address)
    for line in result.stdout.splitlines():
        if line.lower().startswith("x-served-by:"):
            return line.split(":", 1)[1].strip()
    return ""


def test_cross_zone_off_each_az_is_served_by_its_own_target_and_on_by_both(env: Env) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    url_a, url_c = "http://10.20.1.50/user/yundream", "http://10.20.3.50/user/yundream"
    assert {_served_by(env, url_a) for _ in range(4)} == {"i-jerp-a"}
    assert {_served_by(env, url_c) for _ in range(4)} == {"i-jerp-c"}
    env.converge(make_topology(cross_zone=True))
    try:
        env.until(
            "both targets serving the AZ-a ENI",
            lambda: {_served_by(env, url_a) for _ in range(6)} == {"i-jerp-a", "i-jerp-c"},
        )
    finally:
        env.converge(make_topology())
