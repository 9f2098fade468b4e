"""One deploy at a time per state directory, and children that do not outlive the harness.

The lock is ``flock`` on ``<state dir>/lock``: the kernel drops it when the holder's file is
closed, which includes every way a process can die (``kill -9`` too), so a lock is never
stale. The file also names its holder (pid, start time, command), for the message a second
deploy prints; that text is informative only, the flock is the truth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from harness.errors import HarnessError
from harness.processes import ProcessId

LOCK_FILE = "lock"
_PR_SET_PDEATHSIG = 1


class StateDirBusy(HarnessError):
    """Another live harness command holds the state directory's lock."""


class StateLock:
    """``with StateLock(state_dir, "deploy"):`` owns ``state_dir`` or fails at once."""

    def __init__(self, state_dir: Path, command: str) -> None:
        self.path = state_dir / LOCK_FILE
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StateDirBusy(
                f"{self.path.parent} is in use by {holder}; the lock is held by a live process "
                "(the kernel releases it when its holder exits), so it is not stale",
                hint="wait for that command to finish, or stop it (Ctrl-C, or `kill <pid>`); "
                "to run a second environment at once, set HARNESS_STATE_DIR (and "
                "LOCALSTACK_PORT) to different values",
            ) from None
        me = ProcessId.self()
        record = {
            **me.record(),
            "command": self.command,
            "argv": sys.argv,
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Truncate first: once unlocked the file must not name us as its holder.
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        record = {}
    if not isinstance(record, dict) or "pid" not in record:
        return "another harness command (it has not written its name yet)"
    return (
        f"pid {record['pid']} (`harness {record.get('command', '?')}`, "
        f"running since {record.get('since', '?')})"
    )


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``signum`` when this process dies.

    Linux ``PR_SET_PDEATHSIG``: the kernel signals the child when the thread that forked it
    exits, however it exits (``kill -9`` included). The harness forks from its main thread.
    If the parent died between ``fork`` and ``prctl``, the child signals itself.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return preexec
