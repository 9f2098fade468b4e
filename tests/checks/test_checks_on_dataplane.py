"""The checks through LocalProbe against the real local data plane (namespaces, HAProxy,
dnsmasq, JERP), built from the seed topology: real dig, curl and TCP connects.

No LocalStack here: the topology is fixed and target health flows from HAProxy's checks back
into it the way the daemon reports it to the control plane.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.checks.checks import GREETING, Facts, check_private_dns, evaluate, transcripts_with
from harness.checks.probes import CommandResult, LocalProbe
from harness.dataplane.topology import SecurityGroupRule, Target, Topology
from harness.processes import wait_until
from tests.seed import (
    CLIENT,
    CONSUMER_CIDR,
    ENDPOINT_SG,
    NLB_DNS,
    NODE_IPS,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    seed_outputs,
    seed_topology,
)

pytestmark = pytest.mark.root


class HandMadeCloud:
    """A fixed topology whose target health follows what the data plane reports."""

    def __init__(self, base: Topology) -> None:
        self.base = base
        self.health: dict[str, str] = {}

    def report(self, target_group_arn: str, targets: list[dict[str, Any]]) -> None:
        for t in targets:
            self.health[t["id"]] = t["state"]

    def topology(self) -> Topology:
        groups = tuple(
            replace(
                tg,
                targets=tuple(
                    Target(t.target_id, t.port, self.health.get(t.target_id, "initial"))
                    for t in tg.targets
                ),
            )
            for tg in self.base.target_groups
        )
        return replace(self.base, target_groups=groups)


def namespace_runner(snapshot: dict[str, Any]) -> Any:
    def run(host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        ref = host if host in snapshot["hosts"] else snapshot["names"][host]
        ns = snapshot["hosts"][ref]["namespace"]
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, timeout=timeout_s
        )
        return CommandResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    return run


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, HandMadeCloud]]:
    from harness.dataplane.reconciler import DataPlane

    cloud = HandMadeCloud(seed_topology())
    env_id = "jc" + uuid.uuid4().hex[:4]
    state_dir: Path = tmp_path_factory.mktemp("dataplane")
    with DataPlane(state_dir, env_id, cloud.topology, reporter=cloud.report) as dp:

        def observe() -> tuple[dict[str, str], list[str]]:
            dp.reconcile()  # as the daemon does
            return dict(cloud.health), dp.problems()

        wait_until(
            "both targets reported healthy and no data-plane problem",
            observe,
            lambda seen: seen == ({TARGET_A: "healthy", TARGET_C: "healthy"}, []),
            90,
            poll_s=0.5,
        )
        dp.reconcile()  # DNS follows node health
        yield dp, cloud
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert env_id not in out, f"namespaces of {env_id} left behind: {out}"


def test_every_check_passes_on_the_emulated_stack(plane: tuple[Any, HandMadeCloud]) -> None:
    dp, cloud = plane
    probe = LocalProbe(namespace_runner(dp.snapshot()))
    results = evaluate(probe, Facts.from_outputs(seed_outputs(), cloud.topology()))
    failures = [r for r in results if not r.passed]
    assert failures == []
    assert len(results) == 14


def test_transcripts_come_from_real_nslookup_and_curl(plane: tuple[Any, HandMadeCloud]) -> None:
    dp, _ = plane
    text = transcripts_with(LocalProbe(namespace_runner(dp.snapshot())), seed_outputs())
    assert text.startswith(f"# nslookup {NLB_DNS}\nServer:\t\t10.10.0.2\nAddress:\t10.10.0.2#53\n")
    assert all(f"Address: {ip}" in text for ip in NODE_IPS.values())
    assert text.endswith(f"# curl {REGIONAL}/user/yundream\n{GREETING}\n")


def test_dropping_the_endpoint_http_rule_fails_the_greeting_with_the_sg_hint(
    plane: tuple[Any, HandMadeCloud],
) -> None:
    dp, cloud = plane
    closed = seed_topology(endpoint_ingress=(SecurityGroupRule("tcp", 443, 443, (CONSUMER_CIDR,)),))
    original = cloud.base
    cloud.base = closed
    try:
        dp.reconcile()
        probe = LocalProbe(namespace_runner(dp.snapshot()))
        facts = Facts.from_outputs(seed_outputs(), cloud.topology())
        results = {r.name: r for r in evaluate(probe, facts)}
        regional = results["greeting: GET /user/yundream over vpce regional name"]
        assert not regional.passed
        assert "curl exit 28" in regional.observed  # dropped, not refused: the client times out
        assert f"authorize-security-group-ingress --group-id {ENDPOINT_SG}" in regional.hint
    finally:
        cloud.base = original
        dp.reconcile()
    probe = LocalProbe(namespace_runner(dp.snapshot()))
    [back] = probe.http_get(CLIENT, [f"http://{REGIONAL}/user/yundream"])
    assert back.body == GREETING


def test_a_pending_endpoint_carries_no_traffic(plane: tuple[Any, HandMadeCloud]) -> None:
    dp, cloud = plane
    original = cloud.base
    cloud.base = seed_topology(endpoint_state="pendingAcceptance")
    try:
        dp.reconcile()
        probe = LocalProbe(namespace_runner(dp.snapshot()))
        facts = Facts.from_outputs(seed_outputs(), cloud.topology())
        results = {r.name: r for r in evaluate(probe, facts)}
        quiet = results["negative: pending/rejected endpoint carries no traffic"]
        assert quiet.passed and not quiet.skipped, quiet
        state = results["endpoint: connection accepted (available)"]
        assert "accept-vpc-endpoint-connections" in state.hint
    finally:
        cloud.base = original
        dp.reconcile()


def test_the_private_dns_check_passes_over_real_getent_and_curl_once_verified(
    plane: tuple[Any, HandMadeCloud],
) -> None:
    dp, cloud = plane
    original = cloud.base

    def converge(topology: Topology, name: str, answered: bool) -> LocalProbe:
        """Reconcile to ``topology``; dnsmasq reloads a moment later, so wait for ``name``."""
        cloud.base = topology
        dp.reconcile()
        probe = LocalProbe(namespace_runner(dp.snapshot()))
        wait_until(
            f"the consumer resolver to {'answer' if answered else 'drop'} {name}",
            lambda: probe.resolve_in_vpc(name, CLIENT).addresses,
            lambda found: bool(found) == answered,
            10,
            poll_s=0.2,
        )
        return probe

    try:
        for private_name, asked in (
            ("jerp.example.com", "jerp.example.com"),
            ("*.example.com", "jerp.example.com"),
        ):
            probe = converge(seed_topology(private_dns_name=private_name), asked, True)
            facts = Facts.from_outputs(seed_outputs(), cloud.topology())
            results = check_private_dns(probe, facts)
            assert [(r.status, r.name) for r in results] == [
                ("PASS", "dns: private DNS name -> endpoint ENI addresses (consumer VPC)"),
                ("PASS", "greeting: GET /user/yundream over the private DNS name"),
            ], results
        unverified = seed_topology(private_dns_name="jerp.example.com", private_dns_state="failed")
        probe = converge(unverified, "jerp.example.com", False)
        facts = Facts.from_outputs(seed_outputs(), cloud.topology())
        [result] = check_private_dns(probe, facts)
        assert not result.passed and "private-dns-verification" in result.hint
    finally:
        cloud.base = original
        dp.reconcile()
