"""The scale benchmark's pure parts: memory from smaps_rollup, the clock that reads when the
endpoints turned available from a change notice, and the report (no namespaces, no LocalStack)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from bench import scale_bench
from harness.dataplane.daemon import ask_changes
from tests.http_stub import JsonHandler, serving

SMAPS_ROLLUP = """55d0c0a00000-7ffd1d3f2000 ---p 00000000 00:00 0                          [rollup]
Rss:                3072 kB
Pss:                 612 kB
Pss_Dirty:           350 kB
Shared_Clean:       2300 kB
Shared_Dirty:        100 kB
Private_Clean:       200 kB
Private_Dirty:       472 kB
Referenced:         3072 kB
Anonymous:           472 kB
Swap:                  0 kB
"""


def test_uss_is_the_private_pages_only() -> None:
    assert scale_bench.parse_smaps_rollup(SMAPS_ROLLUP) == (3072, 612, 200 + 472)


def test_a_process_without_memory_figures_counts_zero() -> None:
    assert scale_bench.parse_smaps_rollup("") == (0, 0, 0)


class _Notice:
    """A change notice like the plug-in's: ``bump()`` moves the generation on."""

    def __init__(self) -> None:
        self.generation = 0
        self.changed = threading.Condition()

    def bump(self) -> None:
        with self.changed:
            self.generation += 1
            self.changed.notify_all()


@pytest.fixture
def notice() -> Iterator[tuple[_Notice, str]]:
    state = _Notice()

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            if "after" in query:
                after = int(query["after"][0])
                with state.changed:
                    hold = float(query.get("timeout", ["5"])[0])
                    state.changed.wait_for(lambda: state.generation != after, timeout=hold)
            self.answer_json({"generation": state.generation})

    with serving(Handler) as url:
        yield state, url


def test_available_is_the_first_change_after_the_accept_calls_own(
    notice: tuple[_Notice, str],
) -> None:
    state, url = notice
    before = ask_changes(url).generation
    clock = scale_bench.AvailableClock(url, before, deadline_s=5).start()
    state.bump()  # the accept call
    time.sleep(0.3)
    assert clock.at is None, "the accept call's own change is not availability"
    flipped = time.monotonic()
    state.bump()  # the first endpoint turns available
    at = clock.wait()
    assert at is not None and flipped <= at < flipped + 0.5
    assert clock.error is None


def test_no_availability_within_the_deadline_is_none(notice: tuple[_Notice, str]) -> None:
    state, url = notice
    clock = scale_bench.AvailableClock(url, ask_changes(url).generation, deadline_s=0.5).start()
    state.bump()
    assert clock.wait() is None


def test_the_report_separates_the_pending_time_and_says_what_each_column_is() -> None:
    row = {
        "endpoints": 100,
        "converged_after_accept_s": 2.61,
        "available_after_accept_s": 2.01,
        "dataplane_after_available_s": 0.6,
        "processes_added": 100,
        "rss_per_endpoint_mb": 4.8,
        "pss_per_endpoint_mb": 0.6,
        "uss_per_endpoint_mb": 0.3,
        "created_and_placed_s": 12.0,
    }
    report = scale_bench.format_report([row])
    assert "      100       2.61     2.01   0.60     100" in report
    assert "USS MB/ep" in report and "USS is private pages only" in report
    assert "own: the data plane's part" in report
