"""Process identity: pid plus start time, so a child that has not exec'd yet, a zombie and a
recycled pid are each told apart from the process that was recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.errors import WaitTimeout
from harness.processes import (
    ProcessId,
    die_with_parent,
    pid_alive,
    start_ticks,
    wait_for,
    wait_until,
)


def test_a_fresh_child_is_alive_before_and_after_exec() -> None:
    # No window where a just-forked child looks dead: identity does not depend on its cmdline.
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        try:
            ident = ProcessId.of(proc.pid)
            assert ident is not None and ident.alive()
            assert pid_alive(proc.pid)
        finally:
            proc.kill()
            proc.wait(timeout=10)


def test_identity_survives_exec() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; os.execv(sys.executable, [sys.executable, "
         "'-c', 'import time; time.sleep(5)'])"]
    )  # fmt: skip
    try:
        before = ProcessId.of(proc.pid)
        assert before is not None
        time.sleep(0.3)  # let it exec
        assert before.alive()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = ProcessId.of(proc.pid)
    assert ident is not None
    wait_for("the child to exit (a zombie until reaped)", lambda: not ident.alive(), 10)
    assert start_ticks(proc.pid) is None
    proc.wait(timeout=10)


def test_a_recycled_pid_is_not_the_recorded_process() -> None:
    me = ProcessId.self()
    assert me.alive()
    assert not ProcessId(me.pid, me.started + 1).alive()
    assert not pid_alive(me.pid, me.started - 1)
    assert pid_alive(me.pid, me.started)


def test_records_round_trip_and_garbage_is_none() -> None:
    me = ProcessId.self()
    assert ProcessId.from_record(me.record()) == me
    for bad in (None, {}, {"pid": "1", "started": 2}, {"pid": 0, "started": 1}, [1, 2]):
        assert ProcessId.from_record(bad) is None
    assert not pid_alive(None) and not pid_alive(0) and not pid_alive(-1)


def test_terminate_stops_a_process_that_ignores_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    ident = ProcessId.of(proc.pid)
    assert ident is not None
    ident.terminate(timeout_s=0.5)
    # Killed after the grace period, and reaped (our child): not even a zombie is left.
    assert not ident.alive()
    assert not os.path.exists(f"/proc/{proc.pid}")
    proc.wait(timeout=10)
    assert not ident.signal(signal.SIGTERM)  # gone: nothing is signalled


def test_wait_for_names_what_it_waited_for() -> None:
    with pytest.raises(WaitTimeout) as info:
        wait_for("the moon to turn blue", lambda: False, 0.1, hint="look up")
    assert "the moon to turn blue" in str(info.value)
    assert info.value.hint == "look up"
    calls = []
    wait_for("an immediate truth", lambda: calls.append(1) or True, 0)
    assert calls == [1]


def test_wait_until_returns_the_value_that_satisfied_it() -> None:
    values = iter([1, 2, 3, 4])
    assert wait_until("a value above 2", lambda: next(values), lambda v: v > 2, 5) == 3


def test_wait_until_names_the_last_observation_at_its_deadline() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for a green light; last: 'red'"):
        wait_until("a green light", lambda: "red", lambda v: v == "green", 0.1, poll_s=0.05)


def test_self_is_this_process() -> None:
    assert ProcessId.self().pid == os.getpid()


def test_the_parent_death_signal_is_not_left_ignored() -> None:
    """A harness started in the background by a non-interactive shell inherits SIGINT ignored
    (two CI runs started that way kept a Terraform stand-in alive after its harness's death);
    the child must get the signal's default action back, or the parent-death signal is lost."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.run(
            ["grep", "^SigIgn:", "/proc/self/status"],
            preexec_fn=die_with_parent(signal.SIGINT),
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    ignored = int(child.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1)), child.stdout
