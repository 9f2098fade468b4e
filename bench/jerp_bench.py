"""JERP benchmark: ``GET /user/yundream`` on loopback with wrk, next to two baselines.

Three subjects, measured side by side in the same run (alternating rounds, so CPU noise from
other work hits all of them alike), each a real server on 127.0.0.1 with one worker:

- ``jerp``: ``python -m jerp`` exactly as deployed (uvicorn, JSON access log on, to /dev/null);
- ``starlette``: a bare Starlette app with one route answering the same bytes, on the same
  uvicorn settings -- the framework's floor;
- ``haproxy``: HAProxy (one thread) answering the fixed greeting itself -- the machine's
  ceiling.

Target: JERP at least 0.8x bare Starlette. Bounded: ``--duration`` seconds per subject per
round, ``--rounds`` rounds, a 1 s warm-up each, few connections (the machine is shared).

    python -m bench.jerp_bench [--duration 3] [--rounds 2] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.dataplane_bench import WrkResult, parse_wrk, wrk_argv
from harness.errors import HarnessError, PrerequisiteError, WaitTimeout

RATIO_TARGET = 0.8
PATH = "/user/yundream"
GREETING = b"Hello yundream!. How are you"
PORT_RANGE = range(18000, 19000)
SUBJECTS = ("jerp", "starlette", "haproxy")
READY_DEADLINE_S = 15.0


def _free_port() -> int:
    for port in PORT_RANGE:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise PrerequisiteError(
        "no free port in 18000-18999 on 127.0.0.1", hint="stop whatever holds that range"
    )


def _starlette_app() -> Any:
    """The floor: the least Starlette needs to answer the greeting."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def user(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"Hello {request.path_params['name']}!. How are you")

    return Starlette(routes=[Route("/user/{name}", user)])


starlette_app = _starlette_app()


class BenchServer:
    """One subject: a server process on 127.0.0.1, ready when it answers the greeting."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        self._proc: subprocess.Popen[bytes] | None = None

    def _argv(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        uvicorn_common = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        if self.name == "jerp":
            env.update(
                JERP_HOST="127.0.0.1",
                JERP_PORT=str(self.port),
                JERP_INSTANCE_ID="bench",
                JERP_LOG_LEVEL="warning",
            )
            return [sys.executable, "-m", "jerp"], env
        if self.name == "starlette":
            argv = [sys.executable, "-m", "uvicorn", "bench.jerp_bench:starlette_app"]
            flags = ["--log-level", "warning", "--no-access-log", "--no-server-header"]
            return [*argv, *uvicorn_common, *flags], env
        if shutil.which("haproxy") is None:
            raise PrerequisiteError("haproxy is not installed", hint="apt-get install haproxy")
        config = self.workdir / "haproxy.cfg"
        config.write_text(
            "global\n  nbthread 1\n\n"
            "defaults\n  mode http\n  timeout client 10s\n  timeout connect 5s\n"
            "  timeout server 10s\n\n"
            f"frontend greet\n  bind 127.0.0.1:{self.port}\n"
            '  http-request return status 200 content-type "text/plain; charset=utf-8" '
            f'string "{GREETING.decode()}"\n'
        )
        return ["haproxy", "-db", "-f", str(config)], env

    def start(self) -> BenchServer:
        argv, env = self._argv()
        cwd = Path(__file__).resolve().parent.parent
        self._proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise HarnessError(
                    f"the {self.name} server exited ({self._proc.returncode}): {err[-800:]}",
                    hint="run its command by hand to see why",
                )
            if self._answers():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise WaitTimeout(
                    f"the {self.name} server did not answer {self.url} within "
                    f"{READY_DEADLINE_S:.0f}s",
                    hint="is the machine overloaded?",
                )
            time.sleep(0.1)  # poll interval while waiting for the greeting (deadline above)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                request = f"GET {PATH} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
                sock.sendall(request.encode())
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
        except OSError:
            return False
        return data.startswith(b"HTTP/1.1 200") and data.endswith(GREETING)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _wrk(url: str, duration_s: float, connections: int) -> WrkResult:
    if shutil.which("wrk") is None:
        raise PrerequisiteError("wrk is not installed", hint="apt-get install wrk")
    argv = wrk_argv(url, duration_s, connections)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    if proc.returncode != 0:
        raise HarnessError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}", hint=url)
    return parse_wrk(proc.stdout)


def run(duration_s: float, rounds: int, connections: int) -> dict[str, Any]:
    """Start all subjects, measure them in alternating rounds, stop them."""
    results: dict[str, list[WrkResult]] = {name: [] for name in SUBJECTS}
    with tempfile.TemporaryDirectory(prefix="jerp-bench-") as tmp:
        servers = [BenchServer(name, Path(tmp)) for name in SUBJECTS]
        try:
            for server in servers:
                server.start()
            for _ in range(rounds):
                for server in servers:
                    _wrk(server.url, 1, connections)  # warm-up
                    results[server.name].append(_wrk(server.url, duration_s, connections))
        finally:
            for server in servers:
                server.stop()
    summary: dict[str, Any] = {}
    for name, runs in results.items():
        summary[name] = {
            "requests_per_s": round(statistics.median(r.requests_per_s for r in runs), 1),
            "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
            "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
            "errors": sum(r.errors for r in runs),
            "rounds": [asdict(r) for r in runs],
        }
    rps = {name: summary[name]["requests_per_s"] for name in SUBJECTS}
    return {
        "path": PATH,
        "duration_s": duration_s,
        "rounds": rounds,
        "connections": connections,
        "subjects": summary,
        "ratios": {
            "jerp_vs_starlette": round(rps["jerp"] / rps["starlette"], 3),
            "jerp_vs_haproxy": round(rps["jerp"] / rps["haproxy"], 3),
            "starlette_vs_haproxy": round(rps["starlette"] / rps["haproxy"], 3),
        },
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"JERP benchmark: GET {report['path']}, wrk -t1 -c{report['connections']}, "
        f"{report['rounds']} x {report['duration_s']:g}s per subject (median of rounds)",
        f"  {'subject':<10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    for name in SUBJECTS:
        s = report["subjects"][name]
        lines.append(
            f"  {name:<10} {s['requests_per_s']:>10.1f} {s['p50_ms']:>8.3f} "
            f"{s['p99_ms']:>8.3f} {s['errors']:>7}"
        )
    ratios = report["ratios"]
    verdict = "meets" if ratios["jerp_vs_starlette"] >= RATIO_TARGET else "MISSES"
    lines.append(
        f"  jerp/starlette {ratios['jerp_vs_starlette']:.2f}x ({verdict} the "
        f"{RATIO_TARGET}x target); jerp/haproxy {ratios['jerp_vs_haproxy']:.2f}x; "
        f"starlette/haproxy {ratios['starlette_vs_haproxy']:.2f}x"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.jerp_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per subject per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per subject")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--json", default="reports/jerp-bench.json", help="write results here")
    args = parser.parse_args(argv)
    if (
        not 1 <= args.duration <= 60
        or not 1 <= args.rounds <= 10
        or not 1 <= args.connections <= 256
    ):
        parser.error("keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..256")
    try:
        report = run(args.duration, args.rounds, args.connections)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  (results in {out})")
    return 0 if report["ratios"]["jerp_vs_starlette"] >= RATIO_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
