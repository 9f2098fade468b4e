"""``kill -9`` of a deploy at any point is recovered by the next deploy, and destroy leaves
nothing anywhere on the machine.

One sequence, to keep CI time down (one full apply, not one per kill point): a real
``python -m harness deploy`` (its own state directory and LocalStack port) is killed with
SIGKILL while LocalStack starts, then again mid-apply, then again while the data plane starts;
a last deploy must reach the greeting, and destroy must leave no namespace, process,
LocalStack or file outside the state directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.checks.checks import GREETING
from harness.controlplane import localstack
from harness.controlplane.terraform import RUNNING
from harness.dataplane.state import STATE_FILE, read_state, recorded_processes
from harness.processes import ProcessId, wait_for
from harness.settings import REPO_ROOT
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.root]

# LocalStack's S3 store when nobody moves it: a fixed path, whatever TMPDIR says.
SHARED_S3_STORE = Path("/tmp/localstack-s3-storage")


def _shared_s3_entries() -> set[str]:
    return set(os.listdir(SHARED_S3_STORE)) if SHARED_S3_STORE.is_dir() else set()


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


class Harness:
    """``python -m harness <command>`` with its own state directory and LocalStack port."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        log_dir: Path,
        temp_dir: Path,
        localstack_env: dict[str, str],
    ) -> None:
        self.state_dir = state_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "LOCALSTACK_ENDPOINT"},
            **localstack_env,
            "STACK": "local",
            "HARNESS_STATE_DIR": str(state_dir),
            "LOCALSTACK_PORT": str(port),
            # The system temporary directory of this environment alone (other work on the
            # machine writes to /tmp too), so "nothing left there" can be checked exactly.
            "TMPDIR": str(temp_dir),
        }
        self.log_dir = log_dir
        self.runs = 0
        self.last_log = log_dir / "none"

    def start(self, command: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        log = self.last_log = self.log_dir / f"{self.runs}-{command}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harness", command],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return proc, log

    def kill_when(self, description: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Start a deploy and SIGKILL it (the harness process only, as `kill -9 <pid>`)
        once ``condition`` holds."""
        proc, log = self.start("deploy")

        def reached() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"deploy ended before {description}:\n{log.read_text()[-3000:]}")
            return condition()

        wait_for(description, reached, timeout_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def run(self, command: str, timeout_s: float) -> str:
        proc, log = self.start(command)
        try:
            proc.wait(timeout=timeout_s)
        finally:
            if proc.poll() is None:
                proc.kill()
        text = log.read_text()
        assert proc.returncode == 0, f"`harness {command}` failed:\n{text[-4000:]}"
        return text


def _running_terraform(state_dir: Path, subcommand: str) -> ProcessId | None:
    record = state_dir / RUNNING
    try:
        ident = ProcessId.from_record(json.loads(record.read_text()))
        cmdline = Path(f"/proc/{ident.pid}/cmdline").read_bytes() if ident else b""
    except (OSError, ValueError):
        return None
    return ident if subcommand.encode() in cmdline.split(b"\0") else None


def _containers() -> set[str]:
    """Every container of the engine the harness uses (the session's, through DOCKER_HOST)."""
    out = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--no-trunc"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def _localstack_runs(recorded: dict[str, object]) -> Callable[[], bool]:
    """Whether the recorded LocalStack still runs: its container (container mode) or its
    process (host mode)."""
    if "container" in recorded:
        container = str(recorded["container"])
        return lambda: container in _containers()
    ident = ProcessId.from_record(recorded)
    assert ident is not None, f"no LocalStack process in the record {recorded}"
    return ident.alive


def test_deploy_recovers_from_kill_9_at_every_phase_and_destroy_leaves_nothing(
    tmp_path: Path, localstack_env: dict[str, str]
) -> None:
    s3_before, namespaces_before = _shared_s3_entries(), _namespaces()
    # Container mode: a container started by a killed deploy must not outlive destroy either.
    containers_before = _containers() if localstack_env else set()
    state_dir, logs, temp_dir = tmp_path / "state", tmp_path / "logs", tmp_path / "tmp"
    logs.mkdir()
    temp_dir.mkdir()
    harness = Harness(state_dir, free_port(), logs, temp_dir, localstack_env)
    record = state_dir / localstack.RECORD

    try:
        # 1. While LocalStack starts: it is recorded, not yet answering.
        def localstack_starting() -> bool:
            try:
                return json.loads(record.read_text()).get("ready") is False
            except (OSError, ValueError):
                return False

        harness.kill_when("LocalStack to be spawned", localstack_starting, 120)

        # 2. Mid-apply: Terraform has created some resources, not all.
        applying: list[ProcessId] = []

        def mid_apply() -> bool:
            ident = _running_terraform(state_dir, "apply")
            if ident is not None and not applying:
                applying.append(ident)
            created = harness.last_log.read_text().count(": Creation complete after")
            return bool(applying) and created >= 5

        harness.kill_when("terraform apply to have created 5 resources", mid_apply, 240)
        # The apply does not outlive the harness (parent-death signal: Terraform stops itself).
        wait_for("the orphaned terraform apply to stop", lambda: not applying[0].alive(), 90)

        # 3. While the data plane starts: the daemon is spawned, not yet converged.
        def dataplane_starting() -> bool:
            return (state_dir / STATE_FILE).exists()

        harness.kill_when("the data-plane daemon to start", dataplane_starting, 300)

        # 4. The next deploy recovers and reaches the greeting; a second command meanwhile is
        # refused at once, naming the holder.
        proc, log = harness.start("deploy")
        holder = f'"pid": {proc.pid},'
        wait_for(
            "the deploy to take the lock", lambda: holder in (state_dir / "lock").read_text(), 30
        )
        refused = subprocess.run(
            [sys.executable, "-m", "harness", "destroy"],
            cwd=REPO_ROOT,
            env=harness.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert refused.returncode == 2
        assert f"in use by pid {proc.pid}" in refused.stderr, refused.stderr
        proc.wait(timeout=300)
        deployed = log.read_text()
        assert proc.returncode == 0, deployed[-4000:]
        assert GREETING in deployed
        assert "Deprecated flag" not in deployed
    except BaseException:
        # A failed recovery must not leave its LocalStack, daemon and namespaces behind.
        harness.run("destroy", 180)
        raise

    # 5. Destroy leaves nothing: namespaces, recorded processes, LocalStack, temp files.
    state = read_state(state_dir)
    assert state is not None
    processes = recorded_processes(state)
    localstack_runs = _localstack_runs(json.loads(record.read_text()))
    assert localstack_runs()
    harness.run("destroy", 180)

    assert {key: p.pid for key, p in processes.items() if p.alive()} == {}
    assert not localstack_runs(), "LocalStack still runs after destroy"
    if localstack_env:
        assert _containers() - containers_before == set(), "containers outlived destroy"
    assert _namespaces() - namespaces_before == set()
    assert not (state_dir / "localstack").exists(), "LocalStack's files outlived destroy"
    assert list(temp_dir.iterdir()) == [], "files left in the temporary directory"
    assert _shared_s3_entries() - s3_before == set(), f"S3 data left in {SHARED_S3_STORE}"
