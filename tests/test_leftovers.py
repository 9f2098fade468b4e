"""The sweep each test session runs first (``tests/leftovers.py``): it removes what a session
that is gone left, and nothing of one that still runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dataplane.netns import NETNS_RUN
from harness.dataplane.planner import new_env_id
from harness.dataplane.state import read_state, write_state
from harness.processes import ProcessId
from tests import leftovers


def _finished() -> ProcessId:
    """The identity of a process that has exited (as a killed session's controller has)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    ident = ProcessId.of(proc.pid)
    assert ident is not None
    proc.kill()
    proc.wait(timeout=10)
    return ident


def _sleeper(environ: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], env=environ)


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def test_mark_is_set_once_and_inherited_by_workers() -> None:
    environ: dict[str, str] = {}
    mark = leftovers.mark_session(environ)
    me = ProcessId.self()
    assert mark == f"{me.pid}:{me.started}"
    environ[leftovers.MARK] = "1:2"  # a worker: the controller's mark is kept
    assert leftovers.mark_session(environ) == "1:2"


def test_sweep_stops_processes_of_a_gone_session_only(
    sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    dead = _finished()
    orphan = _sleeper({**os.environ, leftovers.MARK: f"{dead.pid}:{dead.started}"})
    me = ProcessId.self()
    live = _sleeper({**os.environ, leftovers.MARK: f"{me.pid}:{me.started}"})
    unmarked = _sleeper({k: v for k, v in os.environ.items() if k != leftovers.MARK})
    sleepers.extend([orphan, live, unmarked])
    time.sleep(0.2)  # let the children exec, so /proc shows their own environment
    orphan_id = ProcessId.of(orphan.pid)
    assert orphan_id is not None

    assert orphan.pid in {p.pid for p in leftovers.orphaned_processes()}
    removed = leftovers.sweep(temproot=tmp_path, tmp=tmp_path)

    assert f"process {orphan.pid}" in removed
    assert not orphan_id.alive()
    assert live.poll() is None and unmarked.poll() is None


def test_terraform_dirs_in_use_or_new_are_kept(
    sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    stale, used, fresh = (tmp_path / f"jerp-tf-{n}" for n in ("stale", "used", "fresh"))
    for path in (stale, used, fresh):
        path.mkdir()
    old = time.time() - 2 * leftovers.TF_TMP_MIN_AGE_S
    for path in (stale, used):
        os.utime(path, (old, old))
    sleepers.append(_sleeper({**os.environ, "TMPDIR": str(used)}))
    time.sleep(0.2)

    assert leftovers.stale_terraform_dirs(tmp_path) == [stale]
    assert str(stale) in leftovers.sweep(temproot=tmp_path, tmp=tmp_path)
    assert not stale.exists() and used.exists() and fresh.exists()


def _session_dir(temproot: Path, n: int, controller: int | None) -> Path:
    numbered = temproot / f"pytest-{n}"
    numbered.mkdir(parents=True)
    if controller is not None:
        (numbered / ".lock").write_text(str(controller))
    return numbered


@pytest.mark.root
def test_namespaces_of_a_gone_session_are_removed(tmp_path: Path) -> None:
    temproot = tmp_path / "pytest-of-test"
    dead_daemon = _finished()
    planes = {}
    # a session that is gone (its controller's pid in .lock no longer runs), one that ended
    # (no .lock), and one that runs (this process holds it)
    for n, controller in ((1, _finished().pid), (2, None), (3, os.getpid())):
        state_dir = _session_dir(temproot, n, controller) / "popen-gw0" / "test_x0"
        state_dir.mkdir(parents=True)
        env_id = new_env_id("jl")
        namespace = f"{env_id}-i-x"
        subprocess.run(["ip", "netns", "add", namespace], check=True)
        write_state(
            state_dir,
            {"daemon": dead_daemon.record(), "env_id": env_id, "namespaces": [namespace]},
        )
        planes[n] = (state_dir, namespace)
    try:
        assert leftovers.dead_data_planes(temproot) == [planes[1][0], planes[2][0]]
        leftovers.sweep(temproot=temproot, tmp=tmp_path)
        for n in (1, 2):
            state_dir, namespace = planes[n]
            assert not (NETNS_RUN / namespace).exists()
            assert read_state(state_dir) is None
        assert (NETNS_RUN / planes[3][1]).exists()
    finally:
        for _, namespace in planes.values():
            subprocess.run(["ip", "netns", "delete", namespace], check=False, capture_output=True)


def test_an_environment_built_from_scratch_keeps_the_session_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(leftovers.MARK, "123:456")
    assert leftovers.with_mark({"PATH": "/bin"}) == {"PATH": "/bin", leftovers.MARK: "123:456"}
    monkeypatch.delenv(leftovers.MARK)
    assert leftovers.with_mark({"PATH": "/bin"}) == {"PATH": "/bin"}
