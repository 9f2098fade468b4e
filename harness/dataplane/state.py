"""The data plane's state file and the processes it records.

Processes are recorded as (pid, start time) pairs (``harness.processes.ProcessId``): the daemon
writes its own, so no reader guesses identity from a pid or a command line.

State file (``dataplane.json``, rewritten atomically after every pass)::

    {"pid": <daemon pid>, "daemon": {"pid": <pid>, "started": <start ticks>},
     "env_id": "jp1a2b", "started_at": <epoch>,
     "hosts": {"<instance id | ENI id | lb name/az>": {"namespace": "...", "kind":
               "instance|nlb-node|endpoint-eni", "ip": "...", "vpc_id": "...",
               "resolver": "10.x.0.2", "name": "<Name tag or empty>"}},
     "names": {"<Name tag>": "<instance id>"},
     "routers": {"<namespace>": {"cidr": ..., "router": ..., "resolver": ...}},
     "namespaces": [...],
     "processes": {"haproxy" | "dnsmasq:<ns>" | "jerp:<id>": {"pid": <pid>, "started": <ticks>}},
     "dns": {"<name>": ["<address>", ...]},
     "vpc_dns": {"<router namespace>": {"<private DNS name>": ["<address>", ...]}},
     "target_health": {"<tg arn>": [<report>]},
     "converged": bool, "healthy": bool, "problems": [...], "error": str | null,
     "report_error": str | null, "reconciled_at": <epoch>, "last_changes": [...],
     "follow": "change-notice" | "polling (<why>)",
     "read": "all" | "<parts read again>" (what the last pass read from the control plane),
     "pass_timing": {"read_s": <topology read>, "<phase>_s": ..., "pass_s": <whole pass>}
                    (the last pass, by phase: DataPlane.timing; a failed one as far as it got),
     "pass_started_at": <epoch when the pass this state reports began>}
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.processes import ProcessId
from harness.settings import HarnessSettings

STATE_FILE = "dataplane.json"
LOG_FILE = "dataplane.log"
# UNIX sockets live here, not under the state directory: HAProxy refuses socket paths over 97
# characters, which a state directory in a deep checkout (or pytest's tmp_path) exceeds.
RUNTIME_ROOT = Path("/run/jerp")


def run_dir(state_dir: Path, env_id: str) -> Path:
    """Configuration, logs and server state of one environment's processes."""
    return state_dir / f"run-{env_id}"


def runtime_dir(env_id: str) -> Path:
    """The environment's UNIX sockets (short path, see RUNTIME_ROOT)."""
    return RUNTIME_ROOT / env_id


def remove_run_files(state_dir: Path, env_id: str) -> None:
    """Delete an environment's run and runtime directories (after its processes stopped)."""
    for directory in (run_dir(state_dir, env_id), runtime_dir(env_id)):
        for path in sorted(directory.glob("*"), reverse=True):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()
    # /run/jerp itself once no environment uses it (the rmdir fails while one does), so a
    # destroy leaves nothing on the machine
    with contextlib.suppress(OSError):
        RUNTIME_ROOT.rmdir()


# --------------------------------------------------------------------------- state file


def state_path(settings_or_dir: HarnessSettings | Path) -> Path:
    base = settings_or_dir if isinstance(settings_or_dir, Path) else settings_or_dir.state_dir
    return base / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one step: a reader sees the old file or the new one,
    never a truncated one (a new file beside it, then a rename over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_state(state_dir: Path, data: Mapping[str, Any]) -> None:
    replace_text(state_path(state_dir), json.dumps(data, indent=2, sort_keys=True))


def daemon_id(state: Mapping[str, Any] | None) -> ProcessId | None:
    """The daemon a state file names, as it recorded itself (pid and start time)."""
    return ProcessId.from_record(state.get("daemon")) if state else None


def recorded_processes(state: Mapping[str, Any]) -> dict[str, ProcessId]:
    """Every process a state file records: the daemon and what it started."""
    found = {
        key: ident
        for key, record in dict(state.get("processes", {})).items()
        if (ident := ProcessId.from_record(record)) is not None
    }
    if (daemon := daemon_id(state)) is not None:
        found["daemon"] = daemon
    return found
