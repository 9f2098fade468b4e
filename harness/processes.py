"""Process identity and waits: the one way the harness asks "is it still running?".

A pid alone names a process only while it lives: after it exits the kernel may hand the number
to another process, and a fresh child shows its *parent's* command line until it calls
``exec``. So a process is identified by its pid **and its start time** (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot). The start time is set at ``fork`` and kept
across ``exec``, and no two processes share both numbers, so the test cannot race with a child
that has not exec'd yet and cannot mistake a recycled pid for the original.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from harness.errors import WaitTimeout

_PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot); None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    # fields[0] is field 3 (state); the start time is field 22.
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@dataclass(frozen=True)
class ProcessId:
    """A process as the pair (pid, start time): stable for its whole life, never reused."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        """The identity of the running process ``pid`` (None when there is none)."""
        started = start_ticks(pid)
        return None if started is None else cls(pid, started)

    @classmethod
    def self(cls) -> ProcessId:
        me = cls.of(os.getpid())
        assert me is not None  # we are running
        return me

    @classmethod
    def from_record(cls, record: object) -> ProcessId | None:
        """Read ``{"pid": int, "started": int}`` as written by :meth:`record`."""
        if not isinstance(record, Mapping):
            return None
        pid, started = record.get("pid"), record.get("started")
        if isinstance(pid, int) and isinstance(started, int) and pid > 0:
            return cls(pid, started)
        return None

    def record(self) -> dict[str, int]:
        return {"pid": self.pid, "started": self.started}

    def alive(self) -> bool:
        """The same process still runs (not exited, not a zombie, pid not recycled)."""
        return start_ticks(self.pid) == self.started

    def signal(self, signum: int) -> bool:
        """Send ``signum`` if this very process still runs; True when it was sent."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, wait up to ``timeout_s`` for the exit, then SIGKILL. Safe when gone."""
        if not self.signal(signal.SIGTERM):
            return
        try:
            wait_for(f"pid {self.pid} to exit after SIGTERM", self._gone, timeout_s)
        except WaitTimeout:
            self.signal(signal.SIGKILL)
            wait_for(f"pid {self.pid} to exit after SIGKILL", self._gone, 10.0)

    def _gone(self) -> bool:
        # Reap it if it is our child, so it does not linger as a zombie.
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)
        return not self.alive()


def pid_alive(pid: object, started: object = None) -> bool:
    """Whether ``pid`` runs (and, given its recorded start time, is still that process)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    now = start_ticks(pid)
    if now is None:
        return False
    return started is None or now == started


def wait_until(
    description: str,
    attempt: Callable[[], T],
    ok: Callable[[T], bool],
    timeout_s: float,
    hint: str = "",
    *,
    poll_s: float | None = None,
    show: Callable[[T], str] = repr,
) -> T:
    """Call ``attempt`` until ``ok`` holds for what it returned, and return that value; past
    the deadline raise WaitTimeout naming the wait and the last value seen (``show(value)``,
    left out when empty).

    The first attempt is immediate. Without ``poll_s`` the pause grows from 20 ms to 0.5 s, so
    a condition that already holds costs nothing and a slow one costs little CPU; ``poll_s``
    fixes the pause for attempts that cost a remote call.
    """
    deadline = time.monotonic() + timeout_s
    delay = poll_s if poll_s is not None else 0.02
    while True:
        value = attempt()
        if ok(value):
            return value
        if time.monotonic() >= deadline:
            last = show(value)
            raise WaitTimeout(
                f"timed out after {timeout_s:.0f}s waiting for {description}"
                + (f"; last: {last}" if last else ""),
                hint=hint or "see the harness logs under .harness/ for the cause",
            )
        time.sleep(delay)
        if poll_s is None:
            delay = min(delay * 2, 0.5)


def wait_for(
    description: str,
    condition: Callable[[], bool],
    timeout_s: float,
    hint: str = "",
    *,
    poll_s: float | None = None,
) -> None:
    """Poll ``condition`` until it holds (:func:`wait_until` for a yes/no condition)."""
    wait_until(description, condition, bool, timeout_s, hint, poll_s=poll_s, show=lambda _: "")


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``signum`` when this process dies.

    Linux ``PR_SET_PDEATHSIG``: the kernel signals the child when the thread that forked it
    exits, however it exits (``kill -9`` included). The harness forks from its main thread.
    If the parent died between ``fork`` and ``prctl``, the child signals itself.

    The child gets the signal's default action back: a harness started in the background by
    a non-interactive shell (``make deploy &`` in a script, a CI step) inherits SIGINT
    *ignored*, and an ignored disposition survives ``exec``, so the signal would never arrive.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def preexec() -> None:
        signal.signal(signum, signal.SIG_DFL)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return preexec
