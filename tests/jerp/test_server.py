"""The real server: `python -m jerp` on a loopback port, over real sockets.

What uvicorn 0.3x does on SIGTERM (observed and pinned here):

- it stops accepting, closes idle connections and connections whose request headers are not
  complete yet (no response: the request never reached the app), waits up to
  JERP_GRACEFUL_TIMEOUT for requests the app is handling, then exits;
- after that clean shutdown it re-raises SIGTERM on itself, so the parent sees the process
  end by SIGTERM (returncode -15, exit status 143 in a shell), not exit 0.

JERP's greeting never awaits anything, so a greeting cannot be "in flight" at a SIGTERM over a
socket. The in-flight test therefore runs JERP's own ``main()`` (same uvicorn config, same
graceful timeout) with the app wrapped by a layer that holds ``/user/slow-*`` for a second
before handing it to JERP unchanged.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import WaitTimeout
from harness.processes import wait_for, wait_until
from jerp.middleware import FLUSH_DELAY_S
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
GREETING = b"Hello yundream!. How are you"

# uvicorn imports the factory ``jerp.app:create_app`` by name, so replacing it on the module
# before main() runs puts the slow layer in front (one worker: the same process)
SLOW_WRAPPER = """
import asyncio, sys
import jerp.app
from jerp.__main__ import main

real_create_app = jerp.app.create_app

def create_app():
    app = real_create_app()
    async def slow(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/user/slow-"):
            print("in-flight", flush=True)
            await asyncio.sleep(1.0)
        await app(scope, receive, send)
    return slow

jerp.app.create_app = create_app
sys.exit(main())
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path
    instance: str  # JERP_INSTANCE_ID, one per server: its X-Served-By says who answered

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise

    def access_lines(self) -> list[dict[str, Any]]:
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def start(tmp_path: Path, argv: list[str], **env_extra: str) -> Server:
    port = free_port()
    instance = f"i-real-{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JERP_")}
    env.update(
        JERP_HOST="127.0.0.1",
        JERP_PORT=str(port),
        JERP_INSTANCE_ID=instance,
        JERP_GRACEFUL_TIMEOUT="10",
        **env_extra,
    )
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=stdout, stderr=stderr
        )
    server = Server(proc, port, out, err, instance)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"jerp exited {proc.returncode}: {err.read_text()}")
        try:
            status, _, headers = server.get("/healthz")
        except OSError:
            return False
        # Another server that took the port first (this one then fails to bind) is not it.
        return status == 200 and headers.get("x-served-by") == instance

    try:
        wait_for("jerp to answer /healthz", healthy, 20)
    except WaitTimeout as exc:
        server.stop()
        raise AssertionError(f"{exc}: {err.read_text()}") from exc
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start(tmp_path, ["-m", "jerp"])
    try:
        yield srv
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait(timeout=5)


def test_greeting_over_a_socket(server: Server) -> None:
    status, body, headers = server.get("/user/yundream")
    assert status == 200
    assert body == GREETING
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-served-by"] == server.instance
    assert "server" not in {k.lower() for k in headers}
    status, body, _ = server.get("/user/%EC%9C%A4%EB%93%9C%EB%A6%BC")
    assert (status, body) == (200, "Hello 윤드림!. How are you".encode())


def test_access_log_is_json_and_skips_healthz(server: Server) -> None:
    server.get("/healthz")
    assert server.get("/user/yundream")[0] == 200
    assert server.get("/user/a%01")[0] == 400
    assert server.get("/nope")[0] == 404
    server.get("/healthz")
    server.stop()
    lines = server.access_lines()
    by_path = {line["path"]: line for line in lines}
    assert by_path["/user/yundream"]["status"] == 200
    assert by_path["/user/a\x01"]["status"] == 400
    assert by_path["/nope"]["status"] == 404
    for line in lines:
        assert line["instance"] == server.instance
        assert line["pid"] == server.proc.pid  # one worker: uvicorn serves in this process
        assert line["method"] == "GET"
        assert line["client"].startswith("127.0.0.1:")
    assert "/healthz" not in by_path
    # stdout holds access lines only; server logs go to stderr as JSON
    assert all(line.startswith("{") for line in server.stdout.read_text().splitlines())
    for err_line in server.stderr.read_text().splitlines():
        json.loads(err_line)


def test_sigterm_ends_cleanly(server: Server) -> None:
    # a keep-alive connection that already got its answer is closed, not waited for
    keep = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    keep.request("GET", "/user/yundream")
    assert keep.getresponse().read() == GREETING
    # a request whose headers are incomplete has not reached the app: dropped, no response
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    raw.sendall(b"GET /user/yundream HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        raw.sendall(b"\r\n")
        answer = raw.recv(4096)
    except OSError:
        answer = b""
    finally:
        raw.close()
        keep.close()
    assert answer == b""
    returncode = server.proc.wait(timeout=15)
    assert returncode == -signal.SIGTERM  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Finished server process" in server.stderr.read_text()


def test_request_in_flight_at_sigterm_completes(tmp_path: Path) -> None:
    server = start(tmp_path, ["-c", SLOW_WRAPPER])
    try:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(b"GET /user/slow-yundream HTTP/1.1\r\nHost: jerp\r\n\r\n")
        wait_for(
            "the slow request to reach the app",
            lambda: "in-flight" in server.stdout.read_text(),
            15,
            hint=f"jerp's stderr: {server.stderr}",
        )
        server.proc.send_signal(signal.SIGTERM)
        response = b""
        while chunk := conn.recv(4096):
            response += chunk
        conn.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK"), response
        assert b"connection: close" in head.lower()
        assert body == b"Hello slow-yundream!. How are you"
        assert server.proc.wait(timeout=15) == -signal.SIGTERM
        statuses = [(line["path"], line["status"]) for line in server.access_lines()]
        assert ("/user/slow-yundream", 200) in statuses
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=5)


def test_two_workers_both_serve_and_stop_on_sigterm(tmp_path: Path) -> None:
    server = start(tmp_path, ["-m", "jerp"], JERP_WORKERS="2")
    try:
        # new connections from many threads at once, until the access log shows both workers
        with ThreadPoolExecutor(max_workers=16) as pool:

            def workers_in_the_log() -> set[int]:
                try:
                    statuses = set(pool.map(lambda n: server.get(f"/user/w{n}")[0], range(64)))
                except ConnectionError:
                    return set()  # a worker still starting on a loaded machine: try again
                assert statuses == {200}
                time.sleep(FLUSH_DELAY_S * 2)  # let both workers write their batches
                return {line["pid"] for line in server.access_lines()}

            pids = wait_until(
                "both workers to serve", workers_in_the_log, lambda p: len(p) >= 2, 20
            )
        assert server.proc.pid not in pids  # the parent only supervises
        assert server.stop() == 0  # the supervisor stops its workers and exits 0
        stderr = server.stderr.read_text()
        for pid in pids:
            assert f"Finished server process [{pid}]" in stderr
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=5)
