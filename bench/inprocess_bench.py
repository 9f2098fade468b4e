"""In-process half of the JERP benchmark: each app's own CPU cost per request, no server, no wrk.

Over HTTP on a shared 2-core machine, whichever subject a neighbour's burst lands on loses, so
the wrk ratio moved between 0.68x and 0.98x across runs. Here the ASGI app is called directly
with a prepared ``GET /user/yundream`` scope and CPU time is read with ``time.process_time``:
waiting for a core that other work holds does not count. Rounds are interleaved (every subject
once per round, the order reversed every other round) and the best round per subject is
reported, as the wrk half reports its best round.

``jerp`` is ``create_app`` with every feature on, its logging configured by ``log_config`` as
``python -m jerp`` does, access lines written to a file. Each timed window ends with an idle
wait of twice JERP's flush delay, so batched access lines are written (and their CPU counted)
inside the window of the subject that made them. Before timing, each app must answer the
greeting (and JERP its ``X-Served-By``); after it, the access log must hold a line per request.

    python -m bench.inprocess_bench [--subjects jerp,fastapi] [--rounds 30] [--requests 2000]

prints ``{"subject": [CPU us per request, one per round], ...}`` as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging.config
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from pathlib import Path

from starlette.types import ASGIApp, Message

from jerp.middleware import FLUSH_DELAY_S

PATH = "/user/yundream"
GREETING = b"Hello yundream!. How are you"
INSTANCE_ID = "i-bench"
SUBJECTS = {  # the wrk half's subjects that are one ASGI app in one process, in its order
    "jerp": "jerp.app:create_app",
    "fastapi": "bench.minimal_fastapi:app",
    "fastapi-name": "bench.minimal_fastapi:app_with_name",
    "starlette": "bench.bare_starlette:app",
}
# What uvicorn hands an app for ``GET /user/yundream`` from wrk; copied per request, because
# Starlette writes into the scope (route, path_params, endpoint).
SCOPE: dict[str, object] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 18000),
    "client": ("127.0.0.1", 40000),
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": PATH,
    "raw_path": PATH.encode(),
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:18000")],
}
REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}
# idle, so it costs no CPU time; long enough for JERP's scheduled flush to run
DRAIN_S = 2 * FLUSH_DELAY_S


async def _receive() -> Message:
    return REQUEST


async def _discard(message: Message) -> None:
    return None


async def answer(app: ASGIApp) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request; the status, headers and body the app sent."""
    messages: list[Message] = []

    async def record(message: Message) -> None:
        messages.append(message)

    await app(dict(SCOPE), _receive, record)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], dict(start.get("headers", [])), body


def check_answers(name: str, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
    """Refuse to time an app that does not answer the greeting (JERP: with its header)."""
    status, headers, body = loop.run_until_complete(answer(app))
    if status != 200 or body != GREETING:
        raise RuntimeError(f"{name} answered {status} {body[:80]!r}, not 200 {GREETING!r}")
    if name == "jerp" and headers.get(b"x-served-by") != INSTANCE_ID.encode():
        raise RuntimeError(f"jerp answered without 'x-served-by: {INSTANCE_ID}': {headers}")


async def _serve(app: ASGIApp, requests: int) -> None:
    for _ in range(requests):
        await app(dict(SCOPE), _receive, _discard)
    await asyncio.sleep(DRAIN_S)


def cpu_us_per_request(
    app: ASGIApp,
    requests: int,
    loop: asyncio.AbstractEventLoop,
    clock: Callable[[], float] = time.process_time,
) -> float:
    """CPU microseconds per request over ``requests`` calls, deferred work included."""
    before = clock()
    loop.run_until_complete(_serve(app, requests))
    return (clock() - before) / requests * 1e6


def measure(
    apps: Mapping[str, ASGIApp],
    rounds: int,
    requests: int,
    budget_s: float,
    clock: Callable[[], float] = time.process_time,
) -> dict[str, list[float]]:
    """Interleaved rounds, at most ``rounds`` and none started after ``budget_s``; one warm-up."""
    loop = asyncio.new_event_loop()
    try:
        names = list(apps)
        for name in names:
            check_answers(name, apps[name], loop)
            cpu_us_per_request(apps[name], min(requests, 1000), loop, clock)  # warm-up
        results: dict[str, list[float]] = {name: [] for name in names}
        deadline = time.monotonic() + budget_s
        for round_ in range(rounds):
            if round_ and time.monotonic() > deadline:
                break
            # reversed every other round (ABBA): each subject goes first as often as last, and
            # neighbours stay neighbours, so a pair's per-round ratio compares adjacent windows
            for name in names if round_ % 2 == 0 else names[::-1]:
                results[name].append(cpu_us_per_request(apps[name], requests, loop, clock))
        return results
    finally:
        loop.close()


def load_apps(names: Sequence[str], access_log: Path) -> dict[str, ASGIApp]:
    """The subjects' ASGI apps; JERP's logging set up as ``python -m jerp`` sets it up."""
    apps: dict[str, ASGIApp] = {}
    for name in names:
        module, _, attribute = SUBJECTS[name].partition(":")
        target = getattr(import_module(module), attribute)
        if name != "jerp":
            apps[name] = target
            continue
        from jerp.logconfig import log_config
        from jerp.settings import Settings

        config = log_config("warning")
        # `python -m jerp > file` in the wrk half: the same handler, on a file instead of stdout
        config["handlers"]["access"]["stream"] = access_log.open("a", encoding="utf-8")
        logging.config.dictConfig(config)
        apps[name] = target(Settings(instance_id=INSTANCE_ID, log_level="warning", access_log=True))
    return apps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inprocess_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--subjects", default=",".join(SUBJECTS), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (1..50)")
    parser.add_argument("--requests", type=int, default=2000, help="per round (100..20000)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds (1..600)")
    args = parser.parse_args(argv)
    names = [n for n in args.subjects.split(",") if n]
    if not names or set(names) - set(SUBJECTS):
        parser.error(f"subjects must be among {', '.join(SUBJECTS)}")
    if not (1 <= args.rounds <= 50 and 100 <= args.requests <= 20000 and 1 <= args.budget <= 600):
        parser.error("keep it bounded: --rounds 1..50, --requests 100..20000, --budget 1..600")
    with tempfile.TemporaryDirectory(prefix="jerp-inprocess-") as tmp:
        access_log = Path(tmp) / "access.log"
        try:
            results = measure(load_apps(names, access_log), args.rounds, args.requests, args.budget)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if "jerp" in names:
            logging.shutdown()  # closes the file; every line was flushed inside a timed window
            # check answer + warm-up + the timed rounds
            expected = 1 + min(args.requests, 1000) + len(results["jerp"]) * args.requests
            written = sum(1 for _ in access_log.open(encoding="utf-8"))
            if written != expected:
                print(
                    f"error: jerp wrote {written} access lines for {expected} requests",
                    file=sys.stderr,
                )
                return 2
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
