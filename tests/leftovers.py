"""What an interrupted test session left behind, found and removed by the next one.

A session's fixtures stop what they start, but only if pytest gets to run its teardowns: a
second Ctrl-C, a SIGTERM or ``kill -9`` of a CI runner, or xdist giving up on a worker that
does not stop in time skip them. LocalStack and the data-plane daemon run in their own sessions
(they must survive a Ctrl-C aimed at the harness that starts them), so nothing else stops them
then. The harness's own commands recover through their state directory; a test's state
directory is under pytest's temporary root, and no later command reads it. So each session
sweeps before it starts anything:

- **processes**: every process a session starts inherits ``JERP_TEST_SESSION=<pid>:<start
  ticks>`` of the session's controller (:func:`mark_session`); a process whose mark names a
  controller that no longer runs is a leftover. That covers LocalStack, Terraform's provider
  plug-ins, the data-plane daemon and what it runs, the session's dockerd.
- **namespaces of a data plane whose daemon was killed** (``kill -9`` leaves it no time to
  remove them): a session's numbered directory (``pytest-<n>``) holds pytest's ``.lock`` with
  the controller's pid while it runs; for a state file in the directory of a session that is
  gone, the harness's own ``stop_dataplane`` removes what it records.
- **Terraform's plug-in directories** (``/tmp/jerp-tf-*``, see
  ``harness.controlplane.terraform.plugin_tmpdir``) that no running process uses.

Nothing of a session that still runs (another checkout's ``make test``) is touched.
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path

from harness.dataplane.daemon import stop_dataplane
from harness.dataplane.netns import NETNS_RUN
from harness.dataplane.state import STATE_FILE, daemon_id, read_state
from harness.processes import ProcessId
from harness.settings import load_settings

MARK = "JERP_TEST_SESSION"
PROC = Path("/proc")
TF_TMP_GLOB = "jerp-tf-*"
# A plug-in directory is created just before its Terraform starts: one younger than this may
# belong to a command between its mkdir and its exec.
TF_TMP_MIN_AGE_S = 60.0


def mark_session(environ: MutableMapping[str, str] = os.environ) -> str:
    """Mark this process (and so every process it starts) as the session's; xdist workers
    inherit the controller's mark and keep it."""
    if MARK not in environ:
        me = ProcessId.self()
        environ[MARK] = f"{me.pid}:{me.started}"
    return environ[MARK]


def with_mark(env: dict[str, str]) -> dict[str, str]:
    """``env``, an environment built from scratch for a child, plus this session's mark, so
    that a child a failed test leaves behind is still found by the next session."""
    return {**env, MARK: os.environ[MARK]} if MARK in os.environ else env


def _owner(mark: str) -> ProcessId | None:
    pid, _, started = mark.partition(":")
    if pid.isdigit() and started.isdigit():
        return ProcessId(int(pid), int(started))
    return None


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or another user's process
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _processes() -> Iterator[tuple[ProcessId, dict[str, str]]]:
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            ident = ProcessId.of(int(entry.name))
            if ident is not None:
                yield ident, _environ(ident.pid)


def orphaned_processes() -> list[ProcessId]:
    """Processes marked by a session whose controller is gone."""
    found = []
    for ident, environ in _processes():
        owner = _owner(environ.get(MARK, ""))
        if owner is not None and not owner.alive():
            found.append(ident)
    return found


def _session_alive(numbered: Path) -> bool:
    try:
        pid = int((numbered / ".lock").read_text())
    except (OSError, ValueError):
        return False  # no lock: the session ended (pytest removes it at exit)
    return ProcessId.of(pid) is not None


def dead_data_planes(temproot: Path) -> list[Path]:
    """State directories, in the numbered directories of sessions that no longer run, of data
    planes whose namespaces still exist (their daemon was killed before it could remove them).
    Unit tests write state files by hand; those name no namespace that exists."""
    # /run/netns, read directly: listing needs neither root nor iproute2
    names = [p.name for p in NETNS_RUN.iterdir()] if NETNS_RUN.is_dir() else []
    existing = {name.split("-", 1)[0] for name in names}
    found = []
    for numbered in sorted(temproot.glob("pytest-[0-9]*")):
        if numbered.is_symlink() or _session_alive(numbered):
            continue
        for path in numbered.rglob(STATE_FILE):
            state = read_state(path.parent) or {}
            if daemon_id(state) is not None and state.get("env_id") in existing:
                found.append(path.parent)
    return sorted(found)


def stale_terraform_dirs(tmp: Path = Path("/tmp")) -> list[Path]:
    """Terraform plug-in directories no running process has as its TMPDIR."""
    in_use = {environ.get("TMPDIR", "") for _, environ in _processes()}
    now = time.time()
    return [
        path
        for path in sorted(tmp.glob(TF_TMP_GLOB))
        if str(path) not in in_use and now - path.stat().st_mtime > TF_TMP_MIN_AGE_S
    ]


def pytest_temproot() -> Path:
    """Where pytest puts its numbered session directories (``pytest-of-<user>``)."""
    base = os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()
    return Path(base).resolve() / f"pytest-of-{getpass.getuser()}"


def sweep(temproot: Path | None = None, tmp: Path = Path("/tmp")) -> list[str]:
    """Remove what dead sessions left; one line per thing removed."""
    removed = []
    for ident in orphaned_processes():
        ident.terminate(timeout_s=20.0)
        removed.append(f"process {ident.pid}")
    for state_dir in dead_data_planes(temproot or pytest_temproot()):
        # the harness's own stop: the recorded processes, the namespaces, the runtime files
        stop_dataplane(load_settings(HARNESS_STATE_DIR=str(state_dir)))
        removed.append(f"the data plane recorded in {state_dir}")
    for path in stale_terraform_dirs(tmp):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed
