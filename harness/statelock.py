"""One deploy at a time per state directory.

The lock is ``flock`` on ``<state dir>/lock``: the kernel drops it when the holder's file is
closed, which includes every way a process can die (``kill -9`` too), so a lock is never
stale. The file also names its holder (pid, start time, command), for the message a second
deploy prints; that text is informative only, the flock is the truth.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from harness.errors import StateDirBusy
from harness.processes import ProcessId

LOCK_FILE = "lock"


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
