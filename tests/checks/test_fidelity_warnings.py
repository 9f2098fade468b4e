"""`make check` warns, never fails, where the deployment relies on an AWS behaviour the local
emulator declines (issue 9 item 8; the `declined` rows of docs/aws-behaviour.md)."""

from __future__ import annotations

import re
from dataclasses import replace

from harness.checks.checks import DECLINED_ATTRIBUTES, Facts, evaluate
from harness.checks.report import format_table
from harness.settings import REPO_ROOT
from tests.seed import seed_outputs, seed_topology

from .stub_probe import StubProbe


def _facts(attributes: tuple[tuple[str, str], ...] = (), protocol: str = "TCP") -> Facts:
    topology = seed_topology()
    (tg,) = topology.target_groups
    (lb,) = topology.load_balancers
    listeners = tuple(replace(listener, protocol=protocol) for listener in lb.listeners)
    topology = replace(
        topology,
        target_groups=(replace(tg, attributes=attributes),),
        load_balancers=(replace(lb, listeners=listeners),),
    )
    return Facts.from_outputs(seed_outputs(), topology)


def test_a_configuration_the_emulator_reproduces_gets_no_warning() -> None:
    results = evaluate(StubProbe(), _facts((("proxy_protocol_v2.enabled", "true"),)))
    assert not [r for r in results if r.warning]


def test_a_declined_attribute_is_a_warning_in_the_table_not_a_failure() -> None:
    attributes = (("target_health_state.unhealthy.connection_termination.enabled", "false"),)
    results = evaluate(StubProbe(), _facts(attributes, protocol="TLS"))
    warnings = [r for r in results if r.warning]
    assert [r.name for r in warnings] == [
        "declined: nlb-unhealthy-rst (docs/aws-behaviour.md)",
        "declined: endpoint-tcp-only (docs/aws-behaviour.md)",
    ]
    assert all(r.passed for r in results)
    assert "connection_termination.enabled=false" in warnings[0].observed
    table = format_table(results)
    assert "WARN    declined: nlb-unhealthy-rst" in table
    assert " 0 failed" in table


def test_every_declined_attribute_names_a_declined_catalogue_row() -> None:
    catalogue = (REPO_ROOT / "docs" / "aws-behaviour.md").read_text()
    for row, _ in [*DECLINED_ATTRIBUTES.values(), ("endpoint-tcp-only", "")]:
        line = re.search(rf"^\| {row} \|.*$", catalogue, re.MULTILINE)
        assert line and "declined" in line.group(0), row
