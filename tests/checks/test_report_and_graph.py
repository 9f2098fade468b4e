"""The terminal table, the JUnit XML, and the topology picture."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.checks.checks import CheckResult, evaluate
from harness.checks.graph import render_graph, to_dot
from harness.checks.report import format_table, junit_xml, write_junit
from harness.errors import HarnessError
from tests.seed import CLIENT, CONSUMER_VPC, ENI_A, TARGET_A, TARGET_C, seed_topology

from .stub_probe import StubProbe, facts

PASS = CheckResult("dns: vpce regional", True, "10.20.1.50", "10.20.1.50", duration_s=0.25)
FAIL = CheckResult(
    "greeting: regional",
    False,
    "HTTP 200 'Hello yundream!. How are you'",
    "curl exit 7: Failed to connect",
    "connection pendingAcceptance: accept it with `aws ec2 accept-vpc-endpoint-connections "
    "--service-id vpce-svc-1 --vpc-endpoint-ids vpce-1`",
)
SKIP = CheckResult("negative: pending", True, "-", "the endpoint is available", skipped=True)


def test_table_lists_every_check_and_explains_failures() -> None:
    table = format_table([PASS, FAIL, SKIP], width=100)
    lines = table.splitlines()
    assert lines[0].startswith("STATUS")
    assert any(line.startswith("PASS    dns: vpce regional") for line in lines)
    assert any(line.startswith("FAIL    greeting: regional") for line in lines)
    assert "expected: HTTP 200 'Hello yundream!. How are you'" in table
    assert "observed: curl exit 7: Failed to connect" in table
    flat = " ".join(table.split())
    assert "fix: " + FAIL.hint in flat
    assert "why: the endpoint is available" in flat
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"


def test_table_wraps_to_the_width() -> None:
    table = format_table([FAIL], width=60)
    assert max(len(line) for line in table.splitlines()) <= 60


def test_junit_parses_and_carries_expected_observed_hint(tmp_path: Path) -> None:
    path = write_junit([PASS, FAIL, SKIP], tmp_path / "reports" / "checks.xml")
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["greeting: regional"].find("failure")
    assert failure is not None
    assert failure.get("message") == FAIL.hint
    assert failure.text is not None
    assert "expected: HTTP 200 'Hello yundream!. How are you'" in failure.text
    assert "observed: curl exit 7: Failed to connect" in failure.text
    assert cases["negative: pending"].find("skipped") is not None
    assert cases["dns: vpce regional"].find("failure") is None
    assert cases["dns: vpce regional"].get("time") == "0.250"


def test_junit_of_a_real_evaluation_escapes_quotes_and_brackets() -> None:
    results = evaluate(StubProbe(), facts(endpoint_state="pendingAcceptance"))
    suite = ET.fromstring(junit_xml(results))
    assert int(suite.get("failures", "0")) >= 1
    assert all(c.get("name") for c in suite.iter("testcase"))


def test_dot_shows_vpcs_subnets_hosts_and_the_request_path() -> None:
    dot = to_dot(seed_topology())
    for text in (
        "10.10.0.0/16",
        "10.20.3.0/24",
        "resolver 10.10.0.2",
        "NLB node jerp-nlb",
        "endpoint ENI",
    ):
        assert text in dot
    assert f'"{CLIENT}" -> "{ENI_A}"' in dot
    assert "3. PrivateLink (available)" in dot
    assert f'"{CLIENT}" -> "dns_{CONSUMER_VPC}"' in dot
    # cross-zone off: node a sends to target a only
    assert dot.count(f'-> "{TARGET_A}"') == 1
    assert dot.count(f'-> "{TARGET_C}"') == 1


def test_dot_marks_pending_endpoints_and_unhealthy_targets_dashed() -> None:
    dot = to_dot(
        seed_topology(
            endpoint_state="pendingAcceptance", health={TARGET_A: "unhealthy", TARGET_C: "healthy"}
        )
    )
    assert 'label="3. PrivateLink (pendingAcceptance)", style=dashed' in dot
    assert 'label="4. TCP :8080 unhealthy", style=dashed' in dot


@pytest.mark.requires("dot")
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_render_graph_writes_a_picture_with_graphviz(tmp_path: Path, suffix: str) -> None:
    out = render_graph(seed_topology(), tmp_path / f"topology{suffix}")
    data = out.read_bytes()
    if suffix == ".svg":
        assert b"<svg" in data and b"10.20.1.50" in data
    else:
        assert data.startswith(b"\x89PNG")


def test_render_graph_refuses_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"unknown picture format \.jpg") as err:
        render_graph(seed_topology(), tmp_path / "t.jpg")
    assert ".svg" in err.value.hint
