"""One command per state directory: a second one fails at once naming the holder, and a
holder killed with SIGKILL leaves no stale lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import StateDirBusy
from harness.statelock import StateLock

HOLD = (
    "import sys, time; from pathlib import Path; from harness.statelock import StateLock; "
    "lock = StateLock(Path(sys.argv[1]), 'deploy'); lock.acquire(); "
    "print('held', flush=True); time.sleep(300)"
)


def _holder(state_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_command_fails_at_once_naming_the_live_holder(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(StateDirBusy) as info:
            StateLock(tmp_path, "destroy").acquire()
        assert time.monotonic() - started < 1.0
        message = str(info.value)
        assert f"pid {holder.pid}" in message
        assert "harness deploy" in message
        assert "not stale" in message
        assert "HARNESS_STATE_DIR" in info.value.hint
    finally:
        holder.kill()
        holder.wait(timeout=5)


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    holder.kill()
    holder.wait(timeout=5)
    with StateLock(tmp_path, "deploy"):
        assert '"command": "deploy"' in (tmp_path / "lock").read_text()


def test_release_lets_the_next_command_in_and_forgets_the_holder(tmp_path: Path) -> None:
    with StateLock(tmp_path / "new-dir", "deploy"):
        pass
    assert (tmp_path / "new-dir" / "lock").read_text() == ""
    with StateLock(tmp_path / "new-dir", "destroy"):
        pass


def test_the_lock_is_not_inherited_by_children(tmp_path: Path) -> None:
    with StateLock(tmp_path, "deploy"):
        # A long-lived child (LocalStack, the data-plane daemon) must not keep the lock.
        child = subprocess.Popen(["sleep", "300"])
    try:
        with StateLock(tmp_path, "deploy"):
            pass
    finally:
        child.kill()
        child.wait(timeout=5)
