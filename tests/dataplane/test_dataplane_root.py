"""The data plane for real: namespaces, HAProxy, dnsmasq, nftables and JERP on the seed topology.

Needs root (network namespaces). Run: ``sudo .venv/bin/pytest -m root tests/dataplane``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.checks.probes import parse_tcp_output, tcp_script
from harness.dataplane.netns import (
    HostSpec,
    RouterSpec,
    create_host,
    create_router,
    delete_namespace,
    list_namespaces,
    ns_exec,
)
from harness.dataplane.planner import new_env_id
from harness.dataplane.reconciler import DataPlane
from harness.dataplane.state import runtime_dir
from harness.dataplane.topology import Topology
from harness.processes import wait_for
from tests.seed import (
    AZ_A,
    AZ_C,
    CLIENT,
    CLIENT_IP,
    CONSUMER_CIDR,
    CONSUMER_VPC,
    ENI_A,
    ENI_IPS,
    NLB_DNS,
    NODE_IPS,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    TARGET_IPS,
    ZONAL,
    seed_topology,
)

from .emulated import JERP_PYTHON, Env, curl, emulated

GREETING = "Hello yundream!. How are you"

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with emulated(tmp_path_factory.mktemp("dataplane"), "jd", seed_topology()) as env:
        env.until("JERP listening on both targets", lambda: not env.plane.problems())
        env.until("both targets healthy", lambda: _both_healthy(env))
        yield env


def greeting_works(env: Env, host: str = REGIONAL) -> bool:
    result = curl(env, CLIENT, f"http://{host}/user/yundream")
    return result.returncode == 0 and result.stdout.strip() == GREETING


def test_greeting_over_the_vpce_name_from_the_consumer_client(env: Env) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    for address in (*ENI_IPS.values(), ZONAL[AZ_A]):
        assert greeting_works(env, address), address


def test_nlb_name_resolves_over_udp_to_node_addresses_from_the_provider_vpc(env: Env) -> None:
    out = env.sh(TARGET_A, "nslookup", NLB_DNS).stdout
    assert "Server:\t\t10.10.0.2" in out
    assert all(f"Address: {ip}" in out for ip in NODE_IPS.values())
    dig = env.sh(TARGET_A, "dig", "+notcp", "+short", NLB_DNS)
    assert sorted(dig.stdout.split()) == sorted(NODE_IPS.values())


def test_both_resolvers_answer_the_endpoint_names_over_udp_and_tcp(env: Env) -> None:
    for ref in (CLIENT, TARGET_C):
        for transport in ("+notcp", "+tcp"):
            regional = env.sh(ref, "dig", transport, "+short", REGIONAL).stdout.split()
            assert sorted(regional) == sorted(ENI_IPS.values()), (ref, transport)
        zonal = env.sh(ref, "dig", "+short", ZONAL[AZ_A]).stdout.split()
        assert zonal == [ENI_IPS[AZ_A]]
    server = env.sh(CLIENT, "dig", REGIONAL).stdout
    assert "SERVER: 10.20.0.2#53(10.20.0.2) (UDP)" in server


def test_other_names_get_nxdomain_at_once_not_a_timeout(env: Env) -> None:
    result = env.sh(CLIENT, "dig", "+time=2", "+tries=1", "example.com")
    assert result.returncode == 0
    assert "status: NXDOMAIN" in result.stdout


def test_no_route_between_the_vpcs(env: Env) -> None:
    target_ip = TARGET_IPS[TARGET_A]
    assert env.sh(CLIENT, "ip", "route", "get", target_ip).returncode != 0
    assert curl(env, CLIENT, f"http://{target_ip}:8080/healthz").returncode == 7
    assert curl(env, CLIENT, f"http://{NODE_IPS[AZ_A]}/").returncode == 7
    # The provider side cannot open connections into the consumer VPC either.
    assert env.sh(TARGET_A, "ip", "route", "get", CLIENT_IP).returncode != 0
    router = subprocess.run(
        ["ip", "-n", env.ns(CONSUMER_VPC), "route", "get", target_ip],
        capture_output=True,
        text=True,
    )
    assert router.returncode != 0


def test_targets_see_the_nlb_node_address_as_source(env: Env) -> None:
    table = "inet jd_probe"
    script = (
        f"table {table} {{\n  chain c {{\n    type filter hook input priority -10;\n"
        f"    ip saddr {NODE_IPS[AZ_A]} tcp dport 8080 counter\n"
        f"    ip saddr {CONSUMER_CIDR} tcp dport 8080 counter\n  }}\n}}\n"
    )
    ns = env.ns(TARGET_A)
    nft = ["ip", "netns", "exec", ns, "nft"]
    subprocess.run([*nft, "-f", "-"], input=script, text=True, check=True)
    try:
        env.until(
            "the greeting via the AZ-a endpoint ENI", lambda: greeting_works(env, ENI_IPS[AZ_A])
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


def _established(namespace: str, part: str) -> list[str]:
    """The namespace's established conntrack entries that contain ``part``
    (``/proc/net/nf_conntrack`` is per network namespace)."""
    listing = subprocess.run(
        ["ip", "netns", "exec", namespace, "cat", "/proc/net/nf_conntrack"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listing.splitlines() if " ESTABLISHED " in line and part in line]


def test_the_kernel_carries_privatelink_flows_and_forgets_them_after_350_s_idle(env: Env) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    # No user-space hop: nothing listens on the ENI's address, the kernel NATs the flow.
    assert f"{ENI_IPS[AZ_A]}:80 " not in env.sh(ENI_A, "ss", "-Hltn").stdout
    script = (
        "import socket, time\n"
        f"s = socket.create_connection(({ENI_IPS[AZ_A]!r}, 80), timeout=5)\n"
        "print('open', flush=True)\n"
        "time.sleep(20)\n"
    )
    held = subprocess.Popen(
        ["ip", "netns", "exec", env.ns(CLIENT), sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "open"
        eni_flows = _established(env.ns(ENI_A), f"dst={ENI_IPS[AZ_A]} ")
        node_ns = next(
            h.namespace for h in env.plane.applied.hosts.values() if h.ref.endswith(f"/{AZ_A}")
        )
        node_flows = _established(node_ns, f"src={TARGET_IPS[TARGET_A]} ")
        # One flow on each hop, NATed (the reply comes from the next hop), timing out after
        # the NLB's 350 s of idleness, not conntrack's 5 days.
        for flows in (eni_flows, node_flows):
            assert len(flows) == 1, flows
            seconds = int(flows[0].split()[4])
            assert 300 < seconds <= 350, flows[0]
        assert f"src={CLIENT_IP} dst={ENI_IPS[AZ_A]} " in eni_flows[0]
        assert f"dst={NODE_IPS[AZ_A]} " in node_flows[0]  # replies to the node: SNAT
    finally:
        held.kill()
        held.wait(timeout=10)


def test_a_rejected_endpoint_keeps_its_link_closed_and_the_node_refuses_it(env: Env) -> None:
    def links() -> list[dict[str, object]]:
        state = env.plane.snapshot()["forwarder"]["links"]
        return [link for link in state if link["eni"] == env.ns(ENI_A)]

    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    [link] = links()
    assert link["open"] is True
    env.converge(seed_topology(endpoint_state="rejected"))
    try:
        [link] = links()
        assert link["open"] is False
        assert f"{link['link']}@" in env.sh(ENI_A, "ip", "-o", "link", "show").stdout
        # Refused at the node, not dropped: a reset, at once.
        assert curl(env, CLIENT, f"http://{ENI_IPS[AZ_A]}/user/yundream").returncode == 7
    finally:
        env.converge(seed_topology())
    [link] = links()
    assert link["open"] is True
    env.until("the greeting after acceptance", lambda: greeting_works(env))


def test_reconciling_again_with_nothing_changed_changes_nothing(env: Env) -> None:
    env.converge(seed_topology())
    assert env.plane.reconcile() == []


def test_a_pass_reports_its_time_by_phase(env: Env) -> None:
    env.plane.reconcile()
    phases = (
        *("read", "plan", "namespaces", "nft", "dns", "jerp", "relays", "haproxy", "forwarder"),
        "report",
    )
    timing = dict(env.plane.timing)
    whole = timing.pop("pass_s")
    assert set(timing) == {f"{phase}_s" for phase in phases}
    assert all(seconds >= 0 for seconds in timing.values())
    # The phases run one after the other within the pass (each rounded to 0.1 ms).
    assert sum(timing.values()) <= whole + 0.001
    # Nothing changed, so no phase did more than look: well under the pass's deadlines.
    assert whole < 5
    assert env.plane.snapshot()["pass_timing"] == env.plane.timing


def test_dropping_the_endpoint_sg_rule_stops_traffic_and_restoring_it_brings_it_back(
    env: Env,
) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    changes = env.converge(seed_topology(endpoint_ingress=()))
    assert any("security groups" in c for c in changes)
    try:
        result = curl(env, CLIENT, f"http://{REGIONAL}/user/yundream", seconds=2)
        assert result.returncode == 28  # dropped, not refused: a timeout
    finally:
        env.converge(seed_topology())
    assert greeting_works(env)


def test_a_pending_endpoint_refuses_connections_until_accepted(env: Env) -> None:
    env.converge(seed_topology(endpoint_state="pendingAcceptance"))
    try:
        assert curl(env, CLIENT, f"http://{REGIONAL}/user/yundream").returncode == 7
        env.converge(seed_topology(endpoint_state="rejected"))
        assert curl(env, CLIENT, f"http://{REGIONAL}/user/yundream").returncode == 7
    finally:
        env.converge(seed_topology())
    env.until("the greeting after acceptance", lambda: greeting_works(env))


def test_a_stopped_instance_stops_its_jerp_and_is_reported_unhealthy(env: Env) -> None:
    env.converge(seed_topology(stopped=(TARGET_C,)))
    try:
        assert set(env.plane.jerps) == {TARGET_A}
        listening = env.sh(TARGET_C, "ss", "-Hltn").stdout
        assert ":8080" not in listening
        reported = [t for _, targets in env.reports for t in targets if t["id"] == TARGET_C]
        assert reported[-1]["state"] == "unhealthy"
        assert reported[-1]["reason"] == "Target.InvalidState"
        # Cross-zone off (AWS): an ENI sends only to its own AZ's node. The AZ-a ENI serves;
        # the AZ-c node has no target left, so the AZ-c ENI fails instead of crossing zones.
        env.until("the greeting via the AZ-a ENI", lambda: greeting_works(env, ENI_IPS[AZ_A]))
        assert not greeting_works(env, ENI_IPS[AZ_C])
    finally:
        env.converge(seed_topology())
    env.until(f"JERP back on {TARGET_C}", lambda: not env.plane.problems())


def _both_healthy(env: Env) -> bool:
    latest: dict[str, str] = {}
    for _, targets in env.reports:
        latest.update({t["id"]: t["state"] for t in targets})
    return latest.get(TARGET_A) == "healthy" and latest.get(TARGET_C) == "healthy"


def test_health_checks_are_reported_to_the_control_plane(env: Env) -> None:
    env.until("both targets reported healthy", lambda: _both_healthy(env))
    assert all(t["state"] == "healthy" for t in env.reports[-1][1])


def _with_a_second_endpoint(topology: Topology) -> Topology:
    """``topology`` with a second endpoint to the same service: new ENIs (ids, namespaces and
    addresses none used before) in the same subnets."""
    first = topology.endpoints[0]
    second = replace(
        first,
        endpoint_id=f"{first.endpoint_id}-2",
        regional_dns=f"second.{first.regional_dns}",
        zonal_dns=(),
        interfaces=tuple(
            replace(i, eni_id=f"{i.eni_id}-2", private_ip=SECOND_ENI_IPS[i.az])
            for i in first.interfaces
        ),
    )
    return replace(topology, endpoints=(*topology.endpoints, second))


SECOND_ENI_IPS = {AZ_A: "10.20.1.51", AZ_C: "10.20.3.51"}


def test_a_new_endpoint_keeps_haproxy_running_and_the_targets_up(env: Env) -> None:
    env.until("both targets reported healthy", lambda: _both_healthy(env))
    master = env.plane.haproxy.pid
    try:
        changes = env.converge(_with_a_second_endpoint(seed_topology()))
        assert f"created host namespace {env.ns(f'{ENI_A}-2')}" in changes
        # A reload, not a restart: a restart enters every target DOWN for `rise` more checks,
        # an outage for every endpoint of the service whenever one endpoint is added.
        assert env.plane.haproxy.pid == master
        nodes = [s for s in env.plane.haproxy.server_status() if s.proxy.startswith("nlb-")]
        assert nodes and all(s.up for s in nodes), nodes
        assert greeting_works(env, SECOND_ENI_IPS[AZ_A])
        assert greeting_works(env)  # the first endpoint, undisturbed
    finally:
        env.converge(seed_topology())


def test_a_namespace_deleted_by_hand_is_rebuilt(env: Env) -> None:
    subprocess.run(["ip", "netns", "delete", env.ns(CLIENT)], check=True)
    changes = env.plane.reconcile()
    assert f"created host namespace {env.ns(CLIENT)}" in changes
    env.until("the greeting from the rebuilt client", lambda: greeting_works(env))


def test_a_namespace_deleted_by_hand_while_a_process_holds_it_is_rebuilt(env: Env) -> None:
    # The old namespace lives on while the process does, and with it its eth0's veth peer in
    # the VPC's router namespace, under the name the rebuilt host's veth needs.
    holder = subprocess.Popen(
        ["ip", "netns", "exec", env.ns(CLIENT), "sleep", "60"], start_new_session=True
    )
    try:
        wait_for("the holder to enter the namespace", lambda: _in_netns(holder.pid), 10)
        subprocess.run(["ip", "netns", "delete", env.ns(CLIENT)], check=True)
        changes = env.plane.reconcile()
        assert f"created host namespace {env.ns(CLIENT)}" in changes
        env.until("the greeting from the rebuilt client", lambda: greeting_works(env))
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_macs_stay_put_when_hosts_join_and_when_a_host_is_rebuilt() -> None:
    # A Linux bridge left to itself takes the lowest MAC of its ports: each new ENI with a lower
    # one moved the router's address under every host's cached neighbour entry, and the host
    # lost the router and the resolver for ~30 s (a CI run failed so after a second endpoint).
    # Likewise a host made again under its name (an ENI's MAC is fixed for its life) came back
    # with a new MAC that its neighbours' entries did not know.
    env_id = new_env_id("jd")
    router = RouterSpec(f"{env_id}-vpc", "br0", "10.99.0.0/16", "10.99.0.1", "10.99.0.2")

    def host(i: int) -> HostSpec:
        ip = f"10.99.1.{10 + i}"
        return HostSpec(
            f"{env_id}-h{i}",
            "instance",
            f"i-{i}",
            "vpc",
            router.namespace,
            ip,
            24,
            router.cidr,
            router.router_ip,
            router.resolver_ip,
        )

    def mac(namespace: str, link: str) -> str:
        path = f"/sys/class/net/{link}/address"
        out = subprocess.run(
            ns_exec(namespace, ["cat", path]), capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def reaches(i: int, address: str) -> bool:
        # The checks' own connect probe, to a closed port: refused proves the path too.
        target = [(address, 9)]
        script = tcp_script(target, timeout_s=2)
        run = subprocess.run(
            ns_exec(host(i).namespace, ["bash", "-c", script]), capture_output=True, text=True
        )
        return parse_tcp_output(target, run.stdout)[0].reached

    try:
        create_router(router)
        router_mac = mac(router.namespace, "br0")
        create_host(host(0))
        assert reaches(0, router.resolver_ip)  # h0 now holds a neighbour entry for the router
        for i in range(1, 9):
            create_host(host(i))
            assert mac(router.namespace, "br0") == router_mac, f"changed when host {i} joined"
        assert reaches(0, router.resolver_ip)

        assert reaches(1, host(0).ip)  # h1 now holds a neighbour entry for h0
        h0_mac = mac(host(0).namespace, "eth0")
        delete_namespace(host(0).namespace)
        create_host(host(0))
        assert mac(host(0).namespace, "eth0") == h0_mac
        assert reaches(1, host(0).ip)
    finally:
        for ns in list_namespaces():
            if ns.startswith(f"{env_id}-"):
                delete_namespace(ns)


def _in_netns(pid: int) -> bool:
    """Whether ``pid`` has left this process's network namespace (``ip netns exec`` did)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def test_teardown_leaves_no_namespace_process_or_file(tmp_path: Path) -> None:
    env_id = new_env_id("jd")
    topology = seed_topology()
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
    assert not runtime_dir(env_id).exists()


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
    result = env.sh(CLIENT, "curl", "-sS", "-m", "3", "-D", "-", "-o", "/dev/null", address)
    for line in result.stdout.splitlines():
        if line.lower().startswith("x-served-by:"):
            return line.split(":", 1)[1].strip()
    return ""


def test_cross_zone_off_each_az_is_served_by_its_own_target_and_on_by_both(env: Env) -> None:
    env.until("the greeting over the endpoint", lambda: greeting_works(env))
    url_a, url_c = (f"http://{ENI_IPS[az]}/user/yundream" for az in (AZ_A, AZ_C))
    assert {_served_by(env, url_a) for _ in range(4)} == {TARGET_A}
    assert {_served_by(env, url_c) for _ in range(4)} == {TARGET_C}
    env.converge(seed_topology(cross_zone=True))
    try:
        env.until(
            "both targets serving the AZ-a ENI",
            lambda: {_served_by(env, url_a) for _ in range(6)} == {TARGET_A, TARGET_C},
        )
    finally:
        env.converge(seed_topology())
