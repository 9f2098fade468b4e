"""The data-plane daemon starts and stops 50 times in a row under CPU load, against a real
LocalStack, with no failed start and nothing left behind (the start-up race of issue 7)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.controlplane.localstack import LocalStackProcess
from harness.dataplane.daemon import start_dataplane, stop_dataplane
from harness.dataplane.netns import list_namespaces
from harness.dataplane.state import read_state
from harness.processes import ProcessId
from harness.settings import HarnessSettings, load_settings

ROUNDS = 50
LOAD_DEADLINE_S = 600  # the load processes exit on their own after this, whatever happens

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """A busy process, bounded in time, stopped after the test (one, not one per core: under
    `make test` other xdist workers load the machine too)."""
    burn = (
        f"import time; end = time.monotonic() + {LOAD_DEADLINE_S}\n"
        "while time.monotonic() < end: pass"
    )
    procs = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(1)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def test_daemon_starts_and_stops_fifty_times_under_load(
    localstack: LocalStackProcess,
    ls_settings: HarnessSettings,
    tmp_path_factory: pytest.TempPathFactory,
    cpu_load: None,
) -> None:
    # A region where the other integration tests create nothing: an empty topology, so each
    # round measures the daemon's own start and stop.
    settings = load_settings(
        STACK="local",
        LOCALSTACK_ENDPOINT=localstack.url,
        AWS_REGION="eu-west-3",
        HARNESS_STATE_DIR=str(tmp_path_factory.mktemp("daemon-loop")),
    )
    for round_no in range(ROUNDS):
        handle = start_dataplane(settings, timeout_s=60)
        state = read_state(settings.state_dir)
        assert state is not None and state["env_id"] == handle.env_id
        daemon = ProcessId.from_record(state["daemon"])
        assert daemon is not None and daemon.pid == handle.pid and daemon.alive(), round_no
        stop_dataplane(settings)
        assert not daemon.alive(), f"round {round_no}: the daemon outlived stop"
        assert read_state(settings.state_dir) is None, f"round {round_no}: state file left"
        left = [ns for ns in list_namespaces() if ns.startswith(f"{handle.env_id}-")]
        assert left == [], f"round {round_no}: namespaces left: {left}"
        assert not (settings.state_dir / f"run-{handle.env_id}").exists(), round_no
