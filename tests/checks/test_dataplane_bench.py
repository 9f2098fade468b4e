"""The benchmark's wrk report parsing and its bounded command line (no load generated)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.errors import HarnessError

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:4641/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms  423.92us   3.58ms   69.37%
    Req/Sec     1.29k    39.99     1.35k    72.73%
  Latency Distribution
     50%  850.00us
     75%    1.75ms
     90%    2.03ms
     99%    1.02s
  1412 requests in 1.10s, 2.38MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1283.86
Transfer/sec:      2.17MB
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "dataplane_bench.py"
    spec = importlib.util.spec_from_file_location("dataplane_bench", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_wrk_report_is_parsed_with_units_and_errors(bench: ModuleType) -> None:
    result = bench.parse_wrk(WRK_OUTPUT)
    assert result.requests_per_s == pytest.approx(1283.86)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1020.0)
    assert result.requests == 1412
    assert result.errors == 7


def test_a_broken_wrk_report_is_an_error_that_shows_it(bench: ModuleType) -> None:
    with pytest.raises(HarnessError, match="unable to connect"):
        bench.parse_wrk("unable to connect to 10.20.1.50:80 Connection refused\n")


def test_wrk_runs_bounded_with_latency_distribution(bench: ModuleType) -> None:
    argv = bench.wrk_argv("http://x/user/yundream", 5, 8)
    assert argv == [
        "wrk",
        "-t1",
        "-c8",
        "-d5s",
        "--timeout",
        "5s",
        "--latency",
        "http://x/user/yundream",
    ]


def test_unbounded_options_are_refused(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--duration", "600"])


def test_report_states_the_ratio_and_the_p99_against_the_targets(bench: ModuleType) -> None:
    row = {"requests_per_s": 1000.0, "p50_ms": 1.0, "p99_ms": 3.0, "errors": 0}
    report = {
        "connections": 8,
        "rounds": 2,
        "duration_s": 5.0,
        "vpce": {**row, "requests_per_s": 650.0, "p99_ms": 3.75},
        "direct": row,
        "subjects": {"vpce": {"url": "http://vpce/"}, "direct": {"url": "http://10.10.1.10:8080/"}},
        "vpce_over_direct": 0.65,
        "deploy_to_first_greeting_s": 95.0,
        "deploy_timings_s": {"terraform_apply": 40.0},
    }
    text = bench.format_report(report)
    assert "vpce/direct throughput: 0.65x (BELOW the 0.9x target)" in text
    assert "vpce p99 over direct: +0.75 ms (OVER the +0.5 ms target)" in text
    assert "deploy to first greeting: 95.0s (meets the 120s target" in text
