"""The data-plane daemon: ``python -m harness.dataplane serve`` reconciles until SIGTERM.

It reconciles as soon as the control plane says something changed (the plug-in's long-polled
change notice, ``GET /_jerp/changes``: see :class:`ChangeWatcher`) and, as a safety net and
where there is no such notice, every ``POLL_INTERVAL_S`` seconds; after each pass it reports
target health and rewrites the state file (``harness.dataplane.state``). ``start_dataplane`` /
``stop_dataplane`` manage it from the harness: while the daemon is our child its ``Popen``
says whether it lives; a daemon found running is known by the identity it recorded itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from harness.dataplane.health import http_reporter
from harness.dataplane.netns import (
    require_root,
)
from harness.dataplane.planner import DEFAULT_PREFIX, new_env_id
from harness.dataplane.reconciler import DataPlane, teardown_env
from harness.dataplane.state import (
    LOG_FILE,
    daemon_id,
    read_state,
    recorded_processes,
    remove_run_files,
    state_path,
    write_state,
)
from harness.errors import DataPlaneError, HarnessError, WaitTimeout
from harness.lifecycle import log_tail
from harness.processes import ProcessId, wait_for
from harness.settings import HarnessSettings

POLL_INTERVAL_S = 2.0
# While a target's health is about to change (first checks, or counting towards up or down),
# HAProxy's check results are read this often between passes, so the pass that reports the
# change (target health, DNS) follows within this, not at the next poll.
HEALTH_WATCH_S = 0.25
# How often await_dataplane reads the state file.
AWAIT_POLL_S = 0.05
# A pass woken by a change notice that names its changes reads only what they touch (see
# TopologyReader); one whole read at least this often all the same, however busy the notice.
WHOLE_READ_EVERY_S = 10.0
CHANGES_ROUTE = "/_jerp/changes"
# How long one long-poll is held open by the plug-in; the HTTP timeout adds a margin to it.
LONG_POLL_S = 10.0


# --------------------------------------------------------------------------- daemon


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.wakes: list[threading.Event] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()
        for wake in self.wakes:
            wake.set()


class ChangeNoticeAbsent(Exception):
    """The control plane has no change notice (AWS itself, or an older plug-in)."""


@dataclass(frozen=True)
class ChangeNotice:
    """One answer of the change notice: the generation, and the names of the changes since
    the generation asked about (None when the plug-in cannot say, or was not asked)."""

    generation: int
    changes: frozenset[str] | None = None


def ask_changes(
    localstack_url: str, after: int | None = None, hold_s: float = LONG_POLL_S
) -> ChangeNotice:
    """One long-poll of the plug-in's change notice: at once when ``after`` is None, else
    once the generation differs from ``after`` (or, unchanged, after ``hold_s``).

    Raises ``ChangeNoticeAbsent`` when the route is not there, ``ValueError`` for an answer
    that is not ``{"generation": <int>, "changes": [<str>, ...]}`` (changes optional),
    ``OSError`` when it does not answer.
    """
    url = localstack_url.rstrip("/") + CHANGES_ROUTE
    query = "" if after is None else f"?after={after}&timeout={hold_s:g}"
    try:
        with urllib.request.urlopen(url + query, timeout=hold_s + 10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405):
            raise ChangeNoticeAbsent(f"{url} answered {exc.code}") from exc
        raise
    generation = body.get("generation") if isinstance(body, dict) else None
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(generation, int) or not (
        changes is None or (isinstance(changes, list) and all(isinstance(c, str) for c in changes))
    ):
        raise ValueError(
            f"{url} answered {body!r}, not {{'generation': <int>, 'changes': [<str>, ...]}}"
        )
    return ChangeNotice(generation, None if changes is None else frozenset(changes))


class ChangeWatcher:
    """Long-polls the plug-in's change notice in a thread and sets ``wake`` on every change.

    ``take()`` says what changed since it was last called, by name, so that a pass can read
    only what those changes touch.

    ``follow`` says how the daemon follows the control plane: ``change-notice``, or
    ``polling (...)`` with the reason when the route is absent (then the watcher ends and
    the periodic poll alone remains) or does not answer (then it asks again after ``retry_s``).
    """

    def __init__(
        self,
        localstack_url: str,
        wake: threading.Event,
        stop: threading.Event,
        retry_s: float = POLL_INTERVAL_S,
        hold_s: float = LONG_POLL_S,
    ) -> None:
        self.localstack_url = localstack_url
        self.wake = wake
        self.stop = stop
        self.retry_s = retry_s
        self.hold_s = hold_s
        self.generation: int | None = None
        self.follow = "polling (change notice not asked yet)"
        self._lock = threading.Lock()
        # The names of the changes since the last take(); None: not known (read everything).
        self._changed: set[str] | None = None
        self._thread = threading.Thread(target=self._run, name="change-watcher", daemon=True)

    def start(self) -> ChangeWatcher:
        self._thread.start()
        return self

    def ask(self, after: int | None) -> ChangeNotice:
        """One long-poll (:func:`ask_changes`), held for this watcher's ``hold_s``."""
        return ask_changes(self.localstack_url, after, self.hold_s)

    def take(self) -> frozenset[str] | None:
        """The names of the changes noticed since the last call; None when that is not known
        (the first call, or a notice that could not name what changed)."""
        with self._lock:
            taken, self._changed = self._changed, set()
        return None if taken is None else frozenset(taken)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                current = self.ask(self.generation)
            except ChangeNoticeAbsent as exc:
                self.follow = f"polling (no change notice: {exc})"
                return
            except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
                self.follow = f"polling (change notice not answering: {exc})"
                self.stop.wait(self.retry_s)
                continue
            self.follow = "change-notice"
            if self.generation is not None and current.generation != self.generation:
                with self._lock:
                    if current.changes is None:
                        self._changed = None
                    elif self._changed is not None:
                        self._changed |= current.changes
                self.wake.set()
            self.generation = current.generation


def pause(
    wake: threading.Event,
    poll_s: float,
    health_moved: Callable[[], bool | None],
    watch_s: float = HEALTH_WATCH_S,
) -> None:
    """Between two passes: until ``wake`` is set (a change notice, SIGUSR1, SIGTERM), a health
    check changed a target's state (``health_moved()`` True; asked every ``watch_s`` while
    it answers False, not at all once it answers None), or ``poll_s`` have passed."""
    deadline = time.monotonic() + poll_s
    watching = True
    while (left := deadline - time.monotonic()) > 0:
        if watching:
            moved = health_moved()
            if moved:
                return
            watching = moved is not None
        if wake.wait(min(watch_s, left) if watching else left):
            return


def serve(
    settings: HarnessSettings,
    env_id: str,
    poll_s: float = POLL_INTERVAL_S,
    jerp_python: str = sys.executable,
) -> int:
    """The daemon loop: reconcile on every change notice and at least every ``poll_s``
    until SIGTERM/SIGINT, then tear down."""
    from harness.controlplane.aws import AwsClients
    from harness.dataplane.inventory import TopologyReader

    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Set by a change notice and by SIGTERM alike, so one wait serves both.
    wake = threading.Event()
    stop.wakes.append(wake)
    # SIGUSR1: reconcile now (``await_dataplane`` sends it after an apply). Installed before
    # the first state file is written, so whoever sees that file may send it.
    signal.signal(signal.SIGUSR1, lambda signum, frame: wake.set())
    # The periodic pass (no change named) reads everything, as without a change notice; a pass
    # woken by the notice reads only what the named changes touch.
    reader = TopologyReader(AwsClients.from_settings(settings), whole_every_s=WHOLE_READ_EVERY_S)
    watcher = ChangeWatcher(settings.localstack_url, wake, stop.event, retry_s=poll_s)
    # The daemon writes its own identity: nobody has to guess it from a pid that may not have
    # exec'd yet (or may have been recycled).
    me = ProcessId.self()
    base: dict[str, Any] = {"pid": me.pid, "daemon": me.record(), "started_at": time.time()}
    # Says the daemon wakes on SIGUSR1 (one started by an older kit would die of it).
    base["wakes_on"] = "SIGUSR1"
    plane = DataPlane(
        settings.state_dir,
        env_id,
        # What changed is taken as the pass reads: a change noticed later wakes the next pass.
        lambda: reader.read(watcher.take()),
        http_reporter(settings.localstack_url),
        python=jerp_python,
    )
    require_root()
    plane.run_dir.mkdir(parents=True, exist_ok=True)
    watcher.start()

    def publish() -> None:
        write_state(
            settings.state_dir,
            {**base, **plane.snapshot(), "follow": watcher.follow, "read": reader.last_read},
        )

    publish()
    try:
        while not stop.event.is_set():
            # Cleared before the pass: a change that lands during it wakes the next one.
            wake.clear()
            base["pass_started_at"] = time.time()
            try:
                changes = plane.reconcile()
                plane.last_error = None
                for change in changes:
                    print(f"{time.strftime('%H:%M:%S')} {change}", flush=True)
                if changes:
                    took = f"pass took {plane.timing}, read {reader.last_read}"
                    print(f"{time.strftime('%H:%M:%S')} {took}", flush=True)
            except HarnessError as exc:
                plane.last_error = str(exc)
                print(f"{time.strftime('%H:%M:%S')} reconcile failed: {exc}", flush=True)
            except Exception as exc:
                plane.last_error = f"{type(exc).__name__}: {exc}"
                print(f"{time.strftime('%H:%M:%S')} reconcile failed: {exc!r}", flush=True)
            publish()
            pause(wake, poll_s, plane.health_moved)
    finally:
        print(f"{time.strftime('%H:%M:%S')} stopping: tearing the data plane down", flush=True)
        plane.stop()
        reader.close()
        with contextlib.suppress(OSError):
            state_path(settings.state_dir).unlink()
    return 0


@dataclass(frozen=True)
class DataPlaneHandle:
    """A running data-plane daemon."""

    pid: int
    env_id: str
    state_file: Path
    log_file: Path


def _cleanup_dead(settings: HarnessSettings, state: Mapping[str, Any]) -> None:
    """Remove what a daemon that is gone left behind: its processes, namespaces, files."""
    for key, ident in recorded_processes(state).items():
        if key != "daemon":
            ident.terminate(timeout_s=5.0)
    env_id = str(state.get("env_id", ""))
    if env_id:
        _remove_env(settings, env_id, state.get("namespaces", []))
    with contextlib.suppress(OSError):
        state_path(settings).unlink()


def _remove_env(settings: HarnessSettings, env_id: str, namespaces: Iterable[str] = ()) -> None:
    teardown_env(env_id, namespaces)
    remove_run_files(settings.state_dir, env_id)


def _spawn_daemon(
    settings: HarnessSettings, env_id: str, log_file: Path, jerp_python: str, poll_s: float
) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.dataplane",
                "serve",
                "--env-id",
                env_id,
                "--state-dir",
                str(settings.state_dir),
                "--localstack-url",
                settings.localstack_url,
                "--region",
                settings.region,
                "--jerp-python",
                jerp_python,
                "--poll-interval",
                f"{poll_s:g}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: the daemon outlives `make deploy` on purpose (it keeps the data
            # plane following the control plane until `make destroy`).
            start_new_session=True,
        )


@dataclass(frozen=True)
class DataPlaneLaunch:
    """A daemon this harness spawned (``proc``, known by its ``Popen`` while it is our child)
    or found running (``running``, known by the identity it recorded itself)."""

    env_id: str
    proc: subprocess.Popen[bytes] | None
    running: ProcessId | None
    log_file: Path

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.running is not None and self.running.alive()


def launch_dataplane(
    settings: HarnessSettings,
    prefix: str = DEFAULT_PREFIX,
    jerp_python: str = sys.executable,
    poll_s: float = POLL_INTERVAL_S,
) -> DataPlaneLaunch:
    """Spawn the daemon, or find the one running, without waiting for it.

    ``make deploy`` launches it before ``terraform apply``: it follows the cloud while the
    resources appear, so the targets' health checks run during the provider's fixed waits
    instead of after them. ``jerp_python`` is the interpreter that runs ``-m jerp`` on the
    emulated instances; ``poll_s`` the safety-net poll interval (changes come with the change
    notice).
    """
    require_root()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.state_dir / LOG_FILE
    state = read_state(settings.state_dir)
    running = daemon_id(state)
    if state is not None and running is not None and running.alive():
        return DataPlaneLaunch(str(state["env_id"]), None, running, log_file)
    if state is not None:
        _cleanup_dead(settings, state)
    env_id = new_env_id(prefix)
    proc = _spawn_daemon(settings, env_id, log_file, jerp_python, poll_s)
    return DataPlaneLaunch(env_id, proc, None, log_file)


def await_dataplane(
    settings: HarnessSettings,
    launch: DataPlaneLaunch,
    timeout_s: float = 180.0,
    fresh_after: float | None = None,
) -> DataPlaneHandle:
    """Wait until the launched daemon has converged and reports healthy, in a pass that began
    after ``fresh_after`` (epoch seconds) when given: a pass that read the cloud before the
    last change would say converged too early. A start that fails stops that daemon and
    removes its environment, whether or not it had written a state file yet."""
    proc, env_id, log_file = launch.proc, launch.env_id, launch.log_file
    nudged = False

    def ready() -> bool:
        nonlocal nudged
        if not launch.alive():
            raise DataPlaneError(
                "the data-plane daemon exited during start-up:\n" + log_tail(log_file, 15),
                hint=f"see {log_file}",
            )
        current = read_state(settings.state_dir) or {}
        me = daemon_id(current)
        if me is None or (proc is not None and me.pid != proc.pid):
            return False  # no state file yet, or one from another daemon
        # A fresh pass now rather than at the next poll (up to POLL_INTERVAL_S away) when no
        # change notice came, as after an apply that changed nothing. The daemon installs its
        # handler before it writes the state file that says so.
        if fresh_after is not None and not nudged:
            nudged = current.get("wakes_on") == "SIGUSR1" and me.signal(signal.SIGUSR1)
        return bool(
            current.get("env_id") == env_id
            and current.get("converged")
            and current.get("healthy")
            and (fresh_after is None or float(current.get("pass_started_at", 0)) >= fresh_after)
        )

    try:
        # A short, fixed pause: each look reads a small local file, and a deploy's last
        # step is this wait.
        wait_for(
            "the data plane to converge and report healthy", ready, timeout_s, poll_s=AWAIT_POLL_S
        )
    except BaseException as exc:
        current = read_state(settings.state_dir) or {}
        abandon_dataplane(settings, launch)
        if isinstance(exc, WaitTimeout):
            detail = current.get("error") or "; ".join(current.get("problems", [])) or "no state"
            raise DataPlaneError(
                f"the data plane did not become healthy within {timeout_s:.0f}s: {detail}",
                hint=f"see {log_file}",
            ) from exc
        raise
    final = read_state(settings.state_dir) or {}
    ident = daemon_id(final)
    assert ident is not None  # ready() saw it
    return DataPlaneHandle(ident.pid, env_id, state_path(settings), log_file)


def start_dataplane(
    settings: HarnessSettings,
    timeout_s: float = 180.0,
    prefix: str = DEFAULT_PREFIX,
    jerp_python: str = sys.executable,
    poll_s: float = POLL_INTERVAL_S,
) -> DataPlaneHandle:
    """Launch the daemon (or find the one running) and wait until converged and healthy."""
    return await_dataplane(
        settings, launch_dataplane(settings, prefix, jerp_python, poll_s), timeout_s
    )


def abandon_dataplane(settings: HarnessSettings, launch: DataPlaneLaunch) -> None:
    """Undo a launch that will not be used: stop the daemon (through its Popen when it is
    ours) and remove its environment."""
    proc, env_id = launch.proc, launch.env_id
    if proc is None:
        stop_dataplane(settings)
        return
    if proc.poll() is None:
        proc.terminate()  # the daemon tears its own environment down on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    state = read_state(settings.state_dir)
    if state is not None and state.get("env_id") == env_id:
        _cleanup_dead(settings, state)
    else:
        _remove_env(settings, env_id)


def stop_dataplane(settings: HarnessSettings, timeout_s: float = 30.0) -> None:
    """Stop the daemon and remove everything its environment created. Safe to repeat."""
    state = read_state(settings.state_dir)
    if state is None:
        return
    daemon = daemon_id(state)
    if daemon is not None:
        daemon.terminate(timeout_s)
    _cleanup_dead(settings, state)


def dataplane_status(settings: HarnessSettings) -> str:
    state = read_state(settings.state_dir)
    if state is None:
        return "not running"
    daemon = daemon_id(state)
    pid = daemon.pid if daemon else state.get("pid")
    if daemon is None or not daemon.alive():
        return f"dead (pid {pid} gone; `make destroy` removes env {state.get('env_id')})"
    health = (
        "healthy"
        if state.get("healthy")
        else "unhealthy: "
        + "; ".join([*state.get("problems", []), *([state["error"]] if state.get("error") else [])])
    )
    hosts = len(state.get("hosts", {}))
    return f"running (pid {pid}, env {state.get('env_id')}, {hosts} hosts), {health}"


def main(argv: list[str] | None = None) -> int:
    from harness.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m harness.dataplane")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the reconciler in the foreground")
    serve_p.add_argument("--env-id", default=None)
    serve_p.add_argument("--state-dir", default=None)
    serve_p.add_argument("--localstack-url", default=None)
    serve_p.add_argument("--region", default=None)
    serve_p.add_argument("--jerp-python", default=sys.executable)
    serve_p.add_argument(
        "--poll-interval",
        type=float,
        default=POLL_INTERVAL_S,
        help="seconds between passes when no change notice comes (the safety net)",
    )
    sub.add_parser("start", help="start the daemon and wait until healthy")
    sub.add_parser("stop", help="stop the daemon and tear everything down")
    sub.add_parser("status", help="one line about the daemon")
    args = parser.parse_args(argv)
    try:
        overrides: dict[str, object] = {}
        if args.command == "serve":
            if args.state_dir:
                overrides["HARNESS_STATE_DIR"] = args.state_dir
            if args.localstack_url:
                overrides["LOCALSTACK_ENDPOINT"] = args.localstack_url
            if args.region:
                overrides["AWS_REGION"] = args.region
        settings = load_settings(**overrides)
        if args.command == "serve":
            if not 0.1 <= args.poll_interval <= 3600:
                parser.error("--poll-interval must be between 0.1 and 3600 seconds")
            return serve(
                settings,
                args.env_id or new_env_id(),
                poll_s=args.poll_interval,
                jerp_python=args.jerp_python,
            )
        if args.command == "start":
            handle = start_dataplane(settings)
            print(f"data plane running: pid {handle.pid}, env {handle.env_id}")
        elif args.command == "stop":
            stop_dataplane(settings)
        else:
            print(dataplane_status(settings))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
