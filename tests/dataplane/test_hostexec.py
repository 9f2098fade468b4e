"""hostexec: a host named by instance id, Name tag, ENI id or NLB node maps to its namespace."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dataplane import hostexec
from harness.errors import StackNotDeployedError
from harness.processes import ProcessId
from harness.settings import HarnessSettings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> HarnessSettings:
    return load_settings(HARNESS_STATE_DIR=str(tmp_path))


@pytest.fixture
def daemon_pid() -> Iterator[int]:
    """A live process standing in for the daemon (known by its pid and start time)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait(timeout=10)


def _write_state(settings: HarnessSettings, pid: int) -> None:
    ident = ProcessId.of(pid)
    state = {
        "pid": pid,
        "daemon": ident.record() if ident else {"pid": pid, "started": 0},
        "env_id": "jd0001",
        "hosts": {
            "i-0abc": {"namespace": "jd0001-i-0abc", "kind": "instance", "ip": "10.20.1.10"},
            "eni-1": {"namespace": "jd0001-eni-1", "kind": "endpoint-eni", "ip": "10.20.1.50"},
            "jerp/ap-northeast-2a": {"namespace": "jd0001-nlb-1-a", "kind": "nlb-node"},
        },
        "names": {"jerp-consumer-client": "i-0abc"},
    }
    (settings.state_dir / "dataplane.json").write_text(json.dumps(state))


def test_host_by_name_tag_id_eni_or_node(settings: HarnessSettings, daemon_pid: int) -> None:
    _write_state(settings, daemon_pid)
    assert hostexec.namespace_for(settings, "jerp-consumer-client") == "jd0001-i-0abc"
    assert hostexec.namespace_for(settings, "i-0abc") == "jd0001-i-0abc"
    assert hostexec.namespace_for(settings, "eni-1") == "jd0001-eni-1"
    assert hostexec.namespace_for(settings, "jerp/ap-northeast-2a") == "jd0001-nlb-1-a"
    assert hostexec.host_command(settings, "i-0abc", ["curl", "-s", "x"]) == [
        "ip", "netns", "exec", "jd0001-i-0abc", "curl", "-s", "x",
    ]  # fmt: skip


def test_unknown_host_lists_the_known_ones(settings: HarnessSettings, daemon_pid: int) -> None:
    _write_state(settings, daemon_pid)
    with pytest.raises(StackNotDeployedError) as info:
        hostexec.namespace_for(settings, "jerp-nowhere")
    assert "jerp-nowhere" in str(info.value)
    assert "jerp-consumer-client" in info.value.hint


def test_no_running_daemon_says_deploy_first(settings: HarnessSettings) -> None:
    with pytest.raises(StackNotDeployedError) as info:
        hostexec.namespace_for(settings, "i-0abc")
    assert "make deploy" in info.value.hint
    # A state file left by a daemon that is gone is not a running data plane.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    _write_state(settings, dead.pid)
    with pytest.raises(StackNotDeployedError):
        hostexec.namespace_for(settings, "i-0abc")
