"""Run a command on an emulated host: ``ip netns exec <its namespace> <command>``.

The host is named the way a user names it: instance id, Name tag, endpoint ENI id, or an NLB
node as ``<lb name>/<az>``. Namespaces are looked up in the state file the data-plane daemon
keeps (``<state dir>/dataplane.json``), so this works from any shell while the stack is up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import Any

from harness.dataplane.state import daemon_id, read_state
from harness.errors import PrerequisiteError, StackNotDeployedError
from harness.settings import HarnessSettings


def _running_state(settings: HarnessSettings) -> dict[str, Any]:
    state = read_state(settings.state_dir)
    daemon = daemon_id(state)
    if state is None or daemon is None or not daemon.alive():
        raise StackNotDeployedError(
            "the local data plane is not running (no live daemon in "
            f"{settings.state_dir / 'dataplane.json'})",
            hint="run `make deploy` (STACK=local) first",
        )
    return state


def namespace_for(settings: HarnessSettings, host: str) -> str:
    """The namespace of ``host`` (instance id, Name tag, ENI id or ``<lb>/<az>``)."""
    state = _running_state(settings)
    hosts: dict[str, Any] = state.get("hosts", {})
    names: dict[str, str] = state.get("names", {})
    ref = host if host in hosts else names.get(host)
    if ref is None or ref not in hosts:
        known = sorted({*hosts, *names})
        raise StackNotDeployedError(
            f"no emulated host named {host!r}",
            hint="use one of: " + ", ".join(known) if known else "the data plane has no hosts",
        )
    return str(hosts[ref]["namespace"])


def host_command(settings: HarnessSettings, host: str, command: Sequence[str]) -> list[str]:
    """The argv that runs ``command`` on ``host``."""
    return ["ip", "netns", "exec", namespace_for(settings, host), *command]


def _require_root() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "running a command on an emulated host needs root (ip netns exec)",
            hint="run it with sudo, or inside the harness container",
        )


def exec_on_host(settings: HarnessSettings, host: str, command: Sequence[str]) -> int:
    """Run ``command`` on ``host`` attached to this terminal; its exit status."""
    _require_root()
    return subprocess.run(host_command(settings, host, command)).returncode
