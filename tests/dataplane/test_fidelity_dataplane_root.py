"""AWS data-plane behaviours on the seed topology, for real (namespaces, HAProxy, nftables, JERP).

One data plane per module; each test converges a variant of the seed and restores the seed.
The rows of docs/aws-behaviour.md these prove name the tests. Run: ``sudo make test`` (root).
"""

from __future__ import annotations

import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness.dataplane.reconciler import DataPlane
from harness.dataplane.topology import SecurityGroup, SecurityGroupRule, Topology
from harness.processes import wait_for
from tests.seed import (
    AZ_A,
    AZ_C,
    CLIENT_SG,
    CONSUMER_CIDR,
    ENI_IPS,
    NLB_DNS,
    NODE_IPS,
    PROVIDER_VPC,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    TARGET_IPS,
    TARGET_PORT,
    VPCE,
    seed_topology,
)

from .emulated import Env, curl, emulated

pytestmark = pytest.mark.root

GREETING = "Hello yundream!. How are you"
GREETING_PATH = "/user/yundream"


def _with_lb(topology: Topology, **changes: Any) -> Topology:
    (lb,) = topology.load_balancers
    return replace(topology, load_balancers=(replace(lb, **changes),))


def _with_tg(topology: Topology, **changes: Any) -> Topology:
    (tg,) = topology.target_groups
    return replace(topology, target_groups=(replace(tg, **changes),))


def _with_group(topology: Topology, group: SecurityGroup) -> Topology:
    others = tuple(g for g in topology.security_groups if g.group_id != group.group_id)
    return replace(topology, security_groups=(*others, group))


def _url(az: str) -> str:
    return f"http://{ENI_IPS[az]}{GREETING_PATH}"


def _greets(env: Env, az: str) -> bool:
    result = curl(env, "i-client", _url(az), seconds=2)
    return result.returncode == 0 and result.stdout.strip() == GREETING


def _served_by(env: Env, az: str) -> str:
    result = env.sh("i-client", "curl", "-sS", "-m", "2", "-D", "-", "-o", "/dev/null", _url(az))
    for line in result.stdout.splitlines():
        if line.lower().startswith("x-served-by:"):
            return line.split(":", 1)[1].strip()
    return ""


def _all_healthy(env: Env) -> bool:
    up = [s for s in env.plane.haproxy.server_status() if s.proxy.startswith("nlb-")]
    return bool(up) and all(s.status == "UP" for s in up)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with emulated(tmp_path_factory.mktemp("fidelity"), "jf", seed_topology()) as env:
        env.until("the seed's targets UP behind both nodes", lambda: _all_healthy(env))
        yield env


@pytest.fixture
def seed(env: Env) -> Iterator[Env]:
    """The test's variant is undone afterwards: back to the seed, every target UP."""
    yield env
    env.converge(seed_topology())
    env.until("the seed restored with every target UP", lambda: _all_healthy(env))


class HeldConnection:
    """An HTTP request sent in two halves from the client's namespace: the connection stays
    open between them; ``finish()`` sends the rest and returns what came back (or how it
    ended)."""

    SCRIPT = textwrap.dedent(
        """
        import socket, sys, time
        s = socket.create_connection((sys.argv[1], 80), timeout=30)
        s.sendall(b"GET /user/yundream HTTP/1.1\\r\\nHost: x\\r\\n")
        print("open", flush=True)
        s.settimeout(0.2)
        started = time.monotonic()
        while True:
            try:
                data = s.recv(65536)
                print("closed" if not data else "data", flush=True)
                break
            except socket.timeout:
                pass
            except OSError as exc:
                print("reset", exc, flush=True)
                break
            if sys.stdin in __import__("select").select([sys.stdin], [], [], 0)[0]:
                sys.stdin.readline()
                s.settimeout(10)
                s.sendall(b"Connection: close\\r\\n\\r\\n")
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
                print("reply", reply.split(b"\\r\\n\\r\\n", 1)[-1].decode(), flush=True)
                break
            if time.monotonic() - started > 40:
                print("still open", flush=True)
                break
        """
    )

    def __init__(self, env: Env, address: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", env.ns("i-client"), sys.executable, "-c", self.SCRIPT, address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "open"

    def finish(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self.outcome()

    def outcome(self, timeout_s: float = 45, plane: DataPlane | None = None) -> str:
        """The script's verdict line (stdin stays open: closing it would send the rest).

        With ``plane``, reconciled every 0.25 s meanwhile, as the daemon does while a target's
        checks are counting (the kernel forwarder resets the flows of a target marked down
        in the pass that sees it down).
        """
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        ready: list[object] = []
        while not ready and time.monotonic() < deadline:
            if plane is not None:
                plane.reconcile()
            step = 0.25 if plane is not None else timeout_s
            ready, _, _ = select.select([self.proc.stdout], [], [], step)
        line = self.proc.stdout.readline().strip() if ready else "no verdict in time"
        self.proc.kill()
        self.proc.wait(timeout=10)
        return line


# --- cross-zone (nlb-cross-zone-off-routing, tg-cross-zone-attr, nlb-dns-az-removal) ---------


def test_cross_zone_off_an_eni_whose_az_has_no_target_fails_and_its_node_leaves_dns(
    seed: Env,
) -> None:
    env = seed
    env.converge(seed_topology(targets=(TARGET_C,)))
    env.until("the AZ-c ENI serving from i-jerp-c", lambda: _greets(env, AZ_C))
    # The AZ-a ENI forwards only to the AZ-a node, which has no target: the flow fails.
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0

    def node_a_left_dns() -> bool:
        return env.sh(TARGET_C, "dig", "+short", NLB_DNS).stdout.split() == [NODE_IPS[AZ_C]]

    env.until("the AZ-a node to leave the NLB name", node_a_left_dns)
    zonal = env.sh(TARGET_C, "dig", "+short", f"{AZ_A}.{NLB_DNS}").stdout.split()
    assert zonal == [NODE_IPS[AZ_A]]


def test_target_group_cross_zone_true_wins_over_the_load_balancer_off(seed: Env) -> None:
    env = seed
    topology = _with_tg(seed_topology(targets=(TARGET_C,)), cross_zone="true")
    env.converge(topology)
    env.until("the AZ-a ENI served by i-jerp-c across zones", lambda: _greets(env, AZ_A))
    env.converge(_with_tg(seed_topology(cross_zone=True), cross_zone="false"))
    env.until("both targets UP", lambda: _all_healthy(env))
    assert {_served_by(env, AZ_A) for _ in range(6)} == {TARGET_A}


# --- target health (nlb-no-traffic-before-healthy, nlb-unhealthy-rst, th-draining) ----------


def test_a_new_target_gets_no_traffic_before_healthy_threshold_checks_pass(seed: Env) -> None:
    env = seed
    env.converge(seed_topology(targets=(TARGET_A,), cross_zone=True))
    env.until("i-jerp-a UP", lambda: _all_healthy(env))
    env.converge(seed_topology(cross_zone=True))
    new = [s for s in env.plane.haproxy.server_status() if s.server.startswith(TARGET_C)]
    assert new and all(s.status.startswith("DOWN") for s in new), new
    assert all(not s.checked for s in new if "/" in s.status)  # still `initial`
    assert _served_by(env, AZ_A) == TARGET_A
    env.until(
        "i-jerp-c to take traffic once UP",
        lambda: TARGET_C in {_served_by(env, AZ_A) for _ in range(4)},
    )


def test_open_connections_to_a_target_turning_unhealthy_are_reset(seed: Env) -> None:
    env = seed
    held = HeldConnection(env, ENI_IPS[AZ_A])  # AZ-a ENI -> AZ-a node -> i-jerp-a
    script = (
        "table inet jf_block {\n  chain c {\n    type filter hook input priority -10;\n"
        f"    tcp dport {TARGET_PORT} ct state new drop\n  }}\n}}\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", env.ns(TARGET_A), "nft", "-f", "-"],
        input=script,
        text=True,
        check=True,
    )
    try:
        # New health checks fail; after `fall` of them HAProxy marks it down, and the next
        # pass resets the flow.
        outcome = held.outcome(timeout_s=30, plane=env.plane)
        assert outcome == "closed" or outcome.startswith("reset"), outcome
    finally:
        subprocess.run(
            ["ip", "netns", "exec", env.ns(TARGET_A), "nft", "delete", "table", "inet", "jf_block"],
            check=False,
        )


def test_every_target_failing_its_checks_fails_open_for_privatelink_flows(seed: Env) -> None:
    env = seed
    (tg,) = seed_topology().target_groups
    env.converge(_with_tg(seed_topology(), health_check=replace(tg.health_check, path="/nope")))

    def all_checked_down() -> bool:
        nodes = [s for s in env.plane.haproxy.server_status() if s.proxy.startswith("nlb-")]
        return bool(nodes) and all(s.checked and not s.up for s in nodes)

    env.until("every target checked down (404 on the check path)", all_checked_down)
    env.plane.reconcile()
    # Every target failed at once in every AZ: the NLB fails open, each node sends to its
    # targets (cross-zone off: its AZ's), and the greeting still comes back.
    assert _served_by(env, AZ_A) == TARGET_A
    assert _greets(env, AZ_C)
    last = [targets for arn, targets in env.reports if arn == tg.arn][-1]
    assert {t["id"]: t["state"] for t in last} == {TARGET_A: "unhealthy", TARGET_C: "unhealthy"}


def test_a_draining_target_keeps_its_open_flows_and_gets_no_new_ones(seed: Env) -> None:
    env = seed
    held = HeldConnection(env, ENI_IPS[AZ_A])
    env.converge(seed_topology(health={TARGET_A: "draining", TARGET_C: "healthy"}))
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0
    assert held.finish() == f"reply {GREETING}"


# --- security groups (sg-egress-enforced, nlb-sg-privatelink-enforce-on/-off) ---------------


def test_client_egress_rules_are_enforced_dns_is_not_filtered(seed: Env) -> None:
    env = seed
    topology = seed_topology()
    client = next(g for g in topology.security_groups if g.group_id == CLIENT_SG)
    https_only = (SecurityGroupRule("tcp", 443, 443, cidrs=(CONSUMER_CIDR,)),)
    env.converge(_with_group(topology, replace(client, egress=https_only)))
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0
    assert env.sh("i-client", "dig", "+short", "+time=2", "+tries=1", f"{AZ_A}.{NLB_DNS}").stdout
    http = (SecurityGroupRule("tcp", 80, 80, cidrs=(CONSUMER_CIDR,)),)
    env.converge(_with_group(topology, replace(client, egress=http)))
    assert _greets(env, AZ_A)


def _nlb_sg(source: str) -> SecurityGroup:
    return SecurityGroup(
        "sg-nlb", PROVIDER_VPC, "nlb", (SecurityGroupRule("tcp", 80, 80, cidrs=(source,)),)
    )


def test_nlb_security_group_judges_privatelink_traffic_by_the_consumer_address(
    seed: Env,
) -> None:
    env = seed
    other_subnet = _with_lb(
        _with_group(seed_topology(), _nlb_sg("10.20.3.0/24")), security_groups=("sg-nlb",)
    )
    env.converge(other_subnet)
    env.until("both targets UP", lambda: _all_healthy(env))
    # The client (10.20.1.10) is not admitted: the ENI's own address would have been.
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0
    client_subnet = _with_lb(
        _with_group(seed_topology(), _nlb_sg("10.20.1.0/24")), security_groups=("sg-nlb",)
    )
    env.converge(client_subnet)
    assert _greets(env, AZ_A)


def test_an_nlb_rule_removed_leaves_open_privatelink_flows_alone(seed: Env) -> None:
    env = seed
    admitted = _with_lb(
        _with_group(seed_topology(), _nlb_sg("10.20.1.0/24")), security_groups=("sg-nlb",)
    )
    env.converge(admitted)
    env.until("the greeting with the client admitted", lambda: _greets(env, AZ_A))
    held = HeldConnection(env, ENI_IPS[AZ_A])
    env.converge(
        _with_lb(_with_group(seed_topology(), _nlb_sg("10.20.3.0/24")), security_groups=("sg-nlb",))
    )
    # Security groups are stateful: the open flow finishes, a new one is dropped.
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0
    assert held.finish() == f"reply {GREETING}"


def test_enforcement_off_privatelink_traffic_bypasses_the_nlb_security_group(seed: Env) -> None:
    env = seed
    topology = _with_lb(
        _with_group(seed_topology(), _nlb_sg("10.20.3.0/24")),
        security_groups=("sg-nlb",),
        enforce_sg_on_privatelink=False,
    )
    env.converge(topology)
    env.until("the greeting with the NLB rules not enforced", lambda: _greets(env, AZ_A))
    # Traffic that does not come through PrivateLink is still filtered (nothing admits the
    # provider VPC on the listener port).
    direct = env.sh(TARGET_A, "curl", "-sS", "-m", "2", f"http://{NODE_IPS[AZ_A]}/healthz")
    assert direct.returncode == 28


# --- proxy protocol v2 (tg-proxy-protocol-v2, -vpce-tlv, -health-checks) ---------------------


def test_proxy_protocol_v2_reaches_jerp_with_the_endpoint_id(seed: Env) -> None:
    env = seed
    topology = _with_tg(seed_topology(), proxy_protocol_v2=True)
    ready = replace(
        topology,
        instances=tuple(
            replace(i, jerp_proxy_protocol="v2") if i.instance_id in TARGET_IPS else i
            for i in topology.instances
        ),
    )
    env.converge(ready)
    env.until("both PPv2 targets UP", lambda: _all_healthy(env), timeout_s=40)
    result = env.sh("i-client", "curl", "-sS", "-m", "3", "-D", "-", _url(AZ_A))
    assert result.stdout.rstrip().endswith(GREETING), result.stdout
    assert f"x-vpce-id: {VPCE}" in result.stdout.lower()


def test_proxy_protocol_v2_to_a_jerp_not_set_up_for_it_fails_its_health_checks(
    seed: Env,
) -> None:
    env = seed
    env.converge(_with_tg(seed_topology(), proxy_protocol_v2=True))

    def all_down() -> bool:
        nodes = [s for s in env.plane.haproxy.server_status() if s.proxy.startswith("nlb-")]
        return bool(nodes) and all(s.status.startswith("DOWN") for s in nodes)

    env.until("every target DOWN (the header is garbage to plain HTTP)", all_down)
    assert curl(env, "i-client", _url(AZ_A), seconds=2).returncode != 0


def test_no_leftover_relay_once_proxy_protocol_is_off(seed: Env) -> None:
    env = seed
    env.converge(_with_tg(seed_topology(), proxy_protocol_v2=True))
    assert env.plane.relays
    env.converge(seed_topology())
    assert not env.plane.relays
    wait_for("the greeting without proxy protocol", lambda: _greets(env, AZ_C), 30)


# --- private DNS names (svc-private-dns-only-verified) -------------------------------------


def _dig(env: Env, ref: str, name: str) -> list[str]:
    """The A records ``ref``'s VPC resolver answers for ``name`` (none: NXDOMAIN)."""
    return sorted(env.sh(ref, "dig", "+short", "+time=2", "+tries=1", "A", name).stdout.split())


def _until_answer(env: Env, ref: str, name: str, want: list[str]) -> None:
    """dnsmasq reloads its names on SIGHUP, a moment after the pass that changed them."""
    env.until(
        f"{ref}'s resolver to answer {name} with {want or 'NXDOMAIN'}",
        lambda: _dig(env, ref, name) == want,
        timeout_s=10,
    )


def _greets_over(env: Env, name: str) -> bool:
    result = curl(env, "i-client", f"http://{name}{GREETING_PATH}", seconds=3)
    return result.returncode == 0 and result.stdout.strip() == GREETING


def test_a_verified_private_dns_name_resolves_to_the_enis_in_the_consumer_vpc_only(
    seed: Env,
) -> None:
    env, name, enis = seed, "jerp.example.com", sorted(ENI_IPS.values())
    env.converge(seed_topology(private_dns_name=name, private_dns_state="pendingVerification"))
    assert _dig(env, "i-client", name) == []  # consumers can use it only once verified
    env.converge(seed_topology(private_dns_name=name))
    _until_answer(env, "i-client", name, enis)
    assert _greets_over(env, name)
    assert _dig(env, TARGET_A, name) == []  # the provider VPC has no such private zone
    env.converge(seed_topology(private_dns_name=name, private_dns_enabled=False))
    _until_answer(env, "i-client", name, [])


def test_a_wildcard_private_dns_name_resolves_names_under_its_domain_in_the_consumer_vpc(
    seed: Env,
) -> None:
    env, enis = seed, sorted(ENI_IPS.values())
    env.converge(seed_topology(private_dns_name="*.example.com"))
    _until_answer(env, "i-client", "api.example.com", enis)
    assert _dig(env, "i-client", "v1.api.example.com") == enis
    assert _dig(env, "i-client", "example.com") == []  # the wildcard is not the domain
    assert _dig(env, TARGET_A, "api.example.com") == []
    assert _greets_over(env, "api.example.com")
    assert _dig(env, "i-client", REGIONAL) == enis  # the restarted resolver kept the rest
