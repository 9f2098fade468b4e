"""The JERP benchmark's in-process half and the table that sets it beside wrk's figures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from bench import inprocess_bench, jerp_bench
from bench.dataplane_bench import WrkResult


async def greeter(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": inprocess_bench.GREETING})


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.fixture
def no_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inprocess_bench, "DRAIN_S", 0.0)


def test_rounds_are_interleaved_in_an_order_reversed_every_other_round(no_drain: None) -> None:
    order: list[str] = []

    def recording(name: str) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if not order or order[-1] != name:
                order.append(name)
            await greeter(scope, receive, send)

        return app

    apps = {name: recording(name) for name in ("a", "b", "c")}
    results = inprocess_bench.measure(apps, rounds=3, requests=100, budget_s=60)
    assert {name: len(values) for name, values in results.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(value > 0 for values in results.values() for value in values)
    # check + warm-up per app (a a b b c c merge to a b c), then the rounds: a b c, c b a
    # (its c merges with the one before), a b c (its a merges too)
    assert order == ["a", "b", "c", "a", "b", "c", "b", "a", "b", "c"]


def test_no_round_starts_after_the_budget(no_drain: None) -> None:
    results = inprocess_bench.measure({"a": greeter}, rounds=50, requests=100, budget_s=0)
    assert len(results["a"]) == 1


def test_work_an_app_defers_is_counted_in_its_own_window() -> None:
    # like JERP's batched access log: the cost lands in a timer after the requests returned
    async def deferring(scope: Scope, receive: Receive, send: Send) -> None:
        await greeter(scope, receive, send)
        asyncio.get_running_loop().call_later(0.01, burn, 0.0002)

    results = inprocess_bench.measure(
        {"deferring": deferring, "plain": greeter}, rounds=2, requests=100, budget_s=60
    )
    # 0.2 ms of CPU per request, paid by the app that deferred it, not by the next subject
    assert min(results["deferring"]) > 150
    assert max(results["plain"]) < 100


def test_an_app_that_does_not_greet_is_not_timed(no_drain: None) -> None:
    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"Not Found"})

    with pytest.raises(RuntimeError, match=r"lost answered 404 b'Not Found'"):
        inprocess_bench.measure({"lost": not_found}, rounds=1, requests=100, budget_s=60)
    # JERP must also say who served it
    with pytest.raises(RuntimeError, match="jerp answered without 'x-served-by: i-bench'"):
        inprocess_bench.measure({"jerp": greeter}, rounds=1, requests=100, budget_s=60)


def test_the_real_apps_run_in_a_child_with_jerps_access_log() -> None:
    # haproxy and jerp-2w are not one ASGI app: no in-process figure for them
    results = jerp_bench.in_process(["jerp", "fastapi", "haproxy", "jerp-2w"], 1, 100)
    assert set(results) == {"jerp", "fastapi"}
    assert all(len(values) == 1 and values[0] > 0 for values in results.values())


def test_nothing_runs_in_process_without_rounds_or_asgi_subjects() -> None:
    assert jerp_bench.in_process(["jerp"], 0, 100) == {}
    assert jerp_bench.in_process(["haproxy", "jerp-2w"], 15, 100) == {}


def test_in_process_options_are_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--in-process-rounds", "51"], ["--in-process-requests", "99"]):
        with pytest.raises(SystemExit) as exc:
            jerp_bench.main(argv)
        assert exc.value.code == 2
    assert "--in-process-rounds 0..50" in capsys.readouterr().err


def run(requests_per_s: float, cpu_us: float) -> jerp_bench.Run:
    return jerp_bench.Run(WrkResult(requests_per_s, 1.0, 2.0, 1000, 0), cpu_us)


def test_table_sets_in_process_figures_beside_wrk() -> None:
    results = {
        "jerp": [run(9500, 150), run(8000, 140), run(7000, 150)],
        "fastapi": [run(10000, 130), run(8000, 120), run(9000, 130)],
        "haproxy": [run(100000, 10), run(90000, 10), run(95000, 10)],
    }
    in_proc = {"jerp": [70.0, 64.0, 80.0, 60.0], "fastapi": [56.0, 60.0, 64.0, 60.0]}
    pin = jerp_bench.Pinning("0", "1", "0,1")
    table = jerp_bench.format_table(results, 5, 16, in_proc, 3000, pin)
    assert "wrk on CPU 0, servers on CPU 1 (jerp-2w: 0,1)" in table.splitlines()[0]
    assert "best of 4 interleaved rounds of 3000" in table
    rows = {line.split()[0]: line.split() for line in table.splitlines()[3:6]}
    assert rows["jerp"][1] == "9500" and rows["jerp"][-1] == "60.0"
    assert rows["fastapi"][1] == "10000" and rows["fastapi"][-1] == "56.0"
    assert rows["haproxy"][-1] == "-"
    # wrk: best/best 9500/10000; per round 0.95, 1.0, 0.78 -> median 0.95. Server CPU: best
    # 120/140; per round 130/150, 120/140, 130/150 -> median 0.86.
    # in-process: best/best 56/60; per round 0.8, 0.9375, 0.8, 1.0 -> median 0.87, quartiles
    # (exclusive method) 0.80 and 0.98
    assert (
        "  jerp/fastapi: wrk 0.95x best, 0.95x per-round median (range 0.78-1.00, 3 rounds); "
        "server CPU 0.86x best, 0.87x median\n"
        "    in-process 0.93x best, 0.87x per-round median (quartiles 0.80-0.98, "
        "range 0.80-1.00, 4 rounds)\n"
        "    target 0.9x (per-round medians): wrk meets it, in-process MISSES it"
    ) in table
    # no in-process figure for haproxy; per round 0.095, 0.089, 0.074 -> median 0.089
    assert table.endswith(
        "jerp/haproxy: wrk 0.10x best, 0.09x per-round median (range 0.07-0.10, 3 rounds); "
        "server CPU 0.07x best, 0.07x median"
    )


def test_table_without_in_process_figures_keeps_wrks_verdict() -> None:
    results = {"jerp": [run(8000, 150)], "fastapi": [run(10000, 130)]}
    table = jerp_bench.format_table(results, 5, 16)
    assert "in-proc:" not in table  # no line describing an in-process run
    assert "not pinned" in table.splitlines()[0]
    assert table.endswith(
        "  jerp/fastapi: wrk 0.80x best, 0.80x per-round median (1 round); "
        "server CPU 0.87x best, 0.87x median\n"
        "    target 0.9x (per-round medians): wrk MISSES it"
    )


def test_wrk_and_servers_get_their_own_cpus() -> None:
    assert jerp_bench.pinning({0}) is None
    assert jerp_bench.pinning({3, 1, 2}) == jerp_bench.Pinning("1", "2", "1,2,3")
    assert jerp_bench.pinned(["wrk", "-t1"], "0") == ["taskset", "-c", "0", "wrk", "-t1"]
    assert jerp_bench.pinned(["wrk"], None) == ["wrk"]


def test_every_other_round_runs_in_reverse() -> None:
    names = ["jerp", "fastapi", "starlette"]
    assert [jerp_bench.schedule(names, r) for r in range(3)] == [names, names[::-1], names]


def test_servers_start_once_and_rounds_alternate(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    windows: list[tuple[str, float, str | None]] = []
    urls: dict[str, str] = {}

    @contextlib.contextmanager
    def running(sub: jerp_bench.Subject, port: int, log: object) -> Iterator[int]:
        started.append(sub.argv)
        urls[f"http://{jerp_bench.HOST}:{port}{jerp_bench.PATH}"] = sub.name
        yield port  # stands in for the pid

    def run_wrk(url: str, duration_s: float, connections: int, cpus: str | None) -> WrkResult:
        windows.append((urls[url], duration_s, cpus))
        return WrkResult(1000.0, 1.0, 2.0, 2000, 0)

    ports = iter(range(18000, 18010))  # nothing listens in this test: free_port would repeat
    monkeypatch.setattr(jerp_bench, "free_port", lambda: next(ports))
    monkeypatch.setattr(jerp_bench, "running", running)
    monkeypatch.setattr(jerp_bench, "run_wrk", run_wrk)
    monkeypatch.setattr(jerp_bench, "cpu_seconds", lambda pid: 0.0)
    monkeypatch.setattr(jerp_bench, "DRAIN_S", 0.0)
    pin = jerp_bench.Pinning("0", "1", "0,1")
    results = jerp_bench.measure(["jerp", "fastapi", "jerp-2w"], 2, 16, 3, pin)
    assert {name: len(runs) for name, runs in results.items()} == {
        "jerp": 3,
        "fastapi": 3,
        "jerp-2w": 3,
    }
    # every server started once, on the servers' CPU (jerp-2w: all of them)
    assert [argv[:3] for argv in started] == [["taskset", "-c", "1"]] * 2 + [
        ["taskset", "-c", "0,1"]
    ]
    # a 1 s warm-up each, then ABBA rounds; wrk always on its own CPU
    assert windows == [
        (name, seconds, "0")
        for name, seconds in [
            ("jerp", 1),
            ("fastapi", 1),
            ("jerp-2w", 1),
            *[("jerp", 2), ("fastapi", 2), ("jerp-2w", 2)],
            *[("jerp-2w", 2), ("fastapi", 2), ("jerp", 2)],
            *[("jerp", 2), ("fastapi", 2), ("jerp-2w", 2)],
        ]
    ]
