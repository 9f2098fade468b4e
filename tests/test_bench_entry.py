"""``python -m bench``: which benchmarks run (the benchmarks themselves are stubbed here)."""

from __future__ import annotations

import pytest

import bench.__main__ as entry
from bench import stack_bench


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    ran: list[tuple[str, list[str]]] = []

    def record(name: str, code: int) -> object:
        def run(argv: list[str]) -> int:
            ran.append((name, list(argv)))
            return code

        return run

    monkeypatch.setattr(entry, "main", record("jerp", 0))
    monkeypatch.setattr(stack_bench, "main", record("stack", 0))
    monkeypatch.setattr(entry.os, "geteuid", lambda: 0)
    return ran


def test_as_root_the_stack_benchmark_follows_the_jerp_one(
    calls: list[tuple[str, list[str]]],
) -> None:
    assert entry.run_all(["--rounds", "2"]) == 0
    assert calls == [("jerp", ["--no-dataplane", "--rounds", "2"]), ("stack", [])]


def test_no_dataplane_skips_the_stack_benchmark(calls: list[tuple[str, list[str]]]) -> None:
    assert entry.run_all(["--no-dataplane"]) == 0
    assert calls == [("jerp", ["--no-dataplane"])]
