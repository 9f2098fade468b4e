"""The daemon's outside: the health report it posts, status lines, the state file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.dataplane import state
from harness.dataplane.daemon import dataplane_status, main
from harness.dataplane.health import http_reporter
from harness.dataplane.state import read_state, write_state
from harness.errors import DataPlaneError
from harness.processes import wait_for
from harness.settings import load_settings


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def control_plane() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_target_health_is_posted_in_the_plugin_shape(control_plane: str) -> None:
    _Recorder.received.clear()
    targets = [{"id": "i-1", "port": 8080, "state": "healthy"}]
    http_reporter(control_plane + "/")("arn:tg", targets)
    assert _Recorder.received == [
        ("/_jerp/target-health", {"target_group_arn": "arn:tg", "targets": targets})
    ]


def test_a_control_plane_that_does_not_answer_is_a_named_error() -> None:
    with pytest.raises(DataPlaneError) as info:
        http_reporter("http://127.0.0.1:9")("arn:tg", [])
    assert "/_jerp/target-health" in str(info.value)
    assert "plug-in" in info.value.hint


def test_status_without_a_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(HARNESS_STATE_DIR=str(tmp_path))
    assert dataplane_status(settings) == "not running"
    write_state(tmp_path, {"pid": 2**22 + 1, "env_id": "jd0002"})
    assert dataplane_status(settings).startswith("dead (pid")
    assert "jd0002" in dataplane_status(settings)


def test_state_file_round_trip_and_garbage(tmp_path: Path) -> None:
    write_state(tmp_path, {"pid": 1, "hosts": {}})
    assert read_state(tmp_path) == {"pid": 1, "hosts": {}}
    (tmp_path / "dataplane.json").write_text("{not json")
    assert read_state(tmp_path) is None


def test_removing_the_last_environment_removes_the_runtime_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "run-jerp"
    monkeypatch.setattr(state, "RUNTIME_ROOT", root)
    for env_id in ("ja0001", "ja0002"):
        state.run_dir(tmp_path, env_id).mkdir()
        state.runtime_dir(env_id).mkdir(parents=True)
        (state.runtime_dir(env_id) / "haproxy.sock").touch()

    state.remove_run_files(tmp_path, "ja0001")
    assert sorted(p.name for p in root.iterdir()) == ["ja0002"]  # another environment uses it
    state.remove_run_files(tmp_path, "ja0002")
    assert not root.exists() and not state.run_dir(tmp_path, "ja0002").exists()


def test_cli_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    assert main(["status"]) == 0
    assert capsys.readouterr().out.strip() == "not running"


def test_await_dataplane_ignores_a_converged_pass_that_began_before_the_apply_ended(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys
    import time

    from harness.dataplane.daemon import DataPlaneLaunch, await_dataplane
    from harness.processes import ProcessId

    settings = load_settings(HARNESS_STATE_DIR=str(tmp_path))
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ident = ProcessId.of(daemon.pid)
        assert ident is not None
        state = {"daemon": ident.record(), "pid": daemon.pid, "env_id": "jt0001", "converged": True}
        apply_ended = time.time()
        # Converged and healthy, but on a read that began before the apply ended.
        write_state(tmp_path, {**state, "healthy": True, "pass_started_at": apply_ended - 1})
        fresh: list[float] = []

        def next_pass() -> None:
            time.sleep(0.5)
            fresh.append(time.time())
            write_state(tmp_path, {**state, "healthy": True, "pass_started_at": fresh[0]})

        writer = threading.Thread(target=next_pass)
        writer.start()
        launch = DataPlaneLaunch("jt0001", daemon, None, tmp_path / "dataplane.log")
        handle = await_dataplane(settings, launch, timeout_s=20, fresh_after=apply_ended)
        returned = time.time()
        writer.join()
        assert handle.pid == daemon.pid and handle.env_id == "jt0001"
        assert fresh and returned >= fresh[0], "ready on the pass that began before the apply"
    finally:
        daemon.kill()
        daemon.wait()


# A stand-in daemon: writes its state file (converged, healthy, on a pass before the apply),
# and on SIGUSR1 a fresh pass. ``wakes_on`` is what the real daemon records.
WAKING_DAEMON = """
import json, os, signal, sys, time
from pathlib import Path
from harness.processes import ProcessId
state_dir, wakes = Path(sys.argv[1]), sys.argv[2] == "yes"
me = ProcessId.self()
state = {"daemon": me.record(), "pid": me.pid, "env_id": "jt0002", "converged": True,
         "healthy": True, "pass_started_at": time.time() - 60}
def fresh_pass(signum, frame):
    (state_dir / "dataplane.json").write_text(json.dumps({**state, "pass_started_at": time.time()}))
if wakes:
    signal.signal(signal.SIGUSR1, fresh_pass)
    state["wakes_on"] = "SIGUSR1"
(state_dir / "dataplane.json").write_text(json.dumps(state))
time.sleep(60)
"""


def _stand_in_daemon(tmp_path: Path, wakes: bool) -> subprocess.Popen[bytes]:
    daemon = subprocess.Popen(
        [sys.executable, "-c", WAKING_DAEMON, str(tmp_path), "yes" if wakes else "no"]
    )
    wait_for("the stand-in daemon's state file", lambda: read_state(tmp_path) is not None, 20)
    return daemon


def test_await_dataplane_wakes_the_daemon_for_a_fresh_pass_instead_of_waiting_for_its_poll(
    tmp_path: Path,
) -> None:
    from harness.dataplane.daemon import DataPlaneLaunch, await_dataplane

    settings = load_settings(HARNESS_STATE_DIR=str(tmp_path))
    daemon = _stand_in_daemon(tmp_path, wakes=True)
    try:
        launch = DataPlaneLaunch("jt0002", daemon, None, tmp_path / "dataplane.log")
        started = time.monotonic()
        await_dataplane(settings, launch, timeout_s=20, fresh_after=time.time())
        # The stand-in never passes by itself: only the wake-up can have made it ready.
        assert time.monotonic() - started < 5
        assert daemon.poll() is None
    finally:
        daemon.kill()
        daemon.wait()


def test_await_dataplane_does_not_signal_a_daemon_that_has_no_wake_up(tmp_path: Path) -> None:
    from harness.dataplane.daemon import DataPlaneLaunch, await_dataplane

    settings = load_settings(HARNESS_STATE_DIR=str(tmp_path))
    daemon = _stand_in_daemon(tmp_path, wakes=False)  # SIGUSR1 would kill it
    try:
        apply_ended = time.time()

        def next_pass() -> None:
            time.sleep(0.5)
            current = read_state(tmp_path) or {}
            write_state(tmp_path, {**current, "pass_started_at": time.time()})

        writer = threading.Thread(target=next_pass)
        writer.start()
        launch = DataPlaneLaunch("jt0002", daemon, None, tmp_path / "dataplane.log")
        await_dataplane(settings, launch, timeout_s=20, fresh_after=apply_ended)
        writer.join()
        assert daemon.poll() is None, "the daemon without a SIGUSR1 handler was signalled"
    finally:
        daemon.kill()
        daemon.wait()
