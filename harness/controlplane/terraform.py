"""One class around the Terraform CLI (tftest-style): parsed results, never raw strings.

Every command runs with ``-input=false -no-color``, variables go through a generated JSON
var-file (no shell quoting), the environment is passed explicitly, and a failure raises
:class:`TerraformError` carrying Terraform's own stderr.

State goes where the stack's ``backend "local"`` is pointed at ``init``
(``-backend-config=path=...``, Terraform's supported way; ``-state`` is deprecated). Terraform
never outlives the harness: it runs in its own process group, gets SIGINT (its graceful stop)
when the harness dies (``PR_SET_PDEATHSIG``) or is interrupted, and a run left over from a
killed harness is stopped by the next one before it touches the state.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PrerequisiteError, TerraformError, WaitTimeout
from harness.processes import ProcessId, die_with_parent, start_ticks, wait_for

INSTALL_HINT = (
    "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install) or set "
    "TERRAFORM to its path"
)
RUNNING = "terraform.running.json"
# In Terraform's data directory: the fingerprint of the last `init` that succeeded.
INIT_STAMP = "jerp-init.fingerprint"
GRACEFUL_STOP_S = 60.0
# A provider plug-in listens on a UNIX socket it creates under TMPDIR ("<TMPDIR>/plugin<n>");
# socket paths stop at 107 bytes, and past them the plug-in exits before its handshake
# ("Failed to load plugin schemas ... Failed to read any lines from plugin's stdout").
MAX_TMPDIR = 80


@dataclass(frozen=True)
class Plan:
    """A plan's resource changes: ``(action, address)`` pairs, no-ops left out."""

    changes: tuple[tuple[str, str], ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        if not self.changes:
            return "No changes."
        return "\n".join(f"  {action:8} {address}" for action, address in self.changes)


def plugin_tmpdir(scratch: Path) -> Path:
    """TMPDIR for Terraform on the state in ``scratch``: ``scratch/tmp`` when its path leaves
    room for a plug-in's socket, else a short directory in /tmp named after ``scratch`` (so a
    run after a ``kill -9`` finds and removes the same one). Created for each command and
    removed after it."""
    inside = scratch / "tmp"
    if len(str(inside.absolute())) <= MAX_TMPDIR:
        return inside
    digest = hashlib.sha256(str(scratch.absolute()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"jerp-tf-{digest}"


class Terraform:
    """Terraform in one working directory (a stack).

    ``state_path`` places the state (the stack declares ``backend "local" {}``); its directory
    also holds the var-files, Terraform's temporary files and the record of a running
    Terraform, so nothing is written elsewhere.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        binary: str = "terraform",
        state_path: Path | None = None,
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise PrerequisiteError(f"{binary!r} is not on PATH", hint=INSTALL_HINT)
        self.binary = found
        self.workdir = workdir
        self.state_path = state_path
        self.scratch = state_path.parent if state_path else None
        self.env = {**env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        self.tmp = plugin_tmpdir(self.scratch) if self.scratch is not None else None
        if self.tmp is not None:
            self.env["TMPDIR"] = str(self.tmp)

    def _run(self, *args: str, capture: bool = True) -> str:
        return self._run_code(*args, capture=capture)[0]

    def _run_code(
        self, *args: str, capture: bool = True, ok: tuple[int, ...] = (0,)
    ) -> tuple[str, int]:
        """Run ``terraform *args``; its stdout and exit code, which must be one of ``ok``."""
        self.stop_leftover()
        if self.tmp is not None:
            self.tmp.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [self.binary, *args],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),
        )
        running = self._record(proc.pid)
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            # Ctrl-C or an error here: let Terraform stop gracefully (it saves its state).
            _stop_group(ProcessId.of(proc.pid) or ProcessId(proc.pid, 0))
            raise
        finally:
            if running is not None:
                running.unlink(missing_ok=True)
            self._remove_tmp()
        if proc.returncode not in ok:
            raise TerraformError(
                f"`terraform {' '.join(args[:1])}` in {self.workdir} failed:\n"
                f"{stderr.strip()[-4000:]}",
                hint="read Terraform's message above; `make plan` shows what it wants to do",
            )
        return stdout or "", proc.returncode

    def _record(self, pid: int) -> Path | None:
        ident = ProcessId.of(pid)
        if self.scratch is None or ident is None:
            return None
        path = self.scratch / RUNNING
        path.write_text(json.dumps(ident.record()))
        return path

    def stop_leftover(self) -> None:
        """Stop a Terraform that a killed harness left running on this state, and clear its
        lock: the caller owns the state directory (its lock), so no live harness owns that
        Terraform."""
        if self.scratch is None:
            return
        record = self.scratch / RUNNING
        if record.exists():
            ident = ProcessId.from_record(json.loads(record.read_text() or "{}"))
            if ident is not None:
                _stop_group(ident)
            record.unlink(missing_ok=True)
        self._remove_tmp()
        if self.state_path is not None:
            _clear_stale_lock_info(self.state_path)

    def _remove_tmp(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _var_file(self, variables: Mapping[str, Any]) -> str:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".tfvars.json", prefix="jerp-", dir=self.scratch, delete=False
        ) as handle:
            json.dump(dict(variables), handle)
        return handle.name

    def _with_vars(
        self,
        variables: Mapping[str, Any],
        *args: str,
        capture: bool = True,
        ok: tuple[int, ...] = (0,),
    ) -> tuple[str, int]:
        var_file = self._var_file(variables)
        try:
            return self._run_code(*args, f"-var-file={var_file}", capture=capture, ok=ok)
        finally:
            Path(var_file).unlink(missing_ok=True)

    def init(self) -> None:
        """``terraform init``, skipped when nothing it reads has changed since the last one
        that succeeded (see :meth:`_init_fingerprint`): on a re-deploy it took 2 s to
        re-verify the same provider and modules."""
        backend = [f"-backend-config=path={self.state_path}"] if self.state_path else []
        stamp = self._data_dir() / INIT_STAMP
        fingerprint = self._init_fingerprint(backend)
        if stamp.exists() and stamp.read_text() == fingerprint:
            return
        stamp.unlink(missing_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        # -reconfigure: the backend's path is ours to set on every run, never a migration.
        self._run("init", "-input=false", "-no-color", "-reconfigure", *backend)
        stamp.write_text(self._init_fingerprint(backend))

    def _data_dir(self) -> Path:
        return Path(self.env.get("TF_DATA_DIR") or self.workdir / ".terraform")

    def _init_fingerprint(self, backend: list[str]) -> str:
        """A digest of everything ``init`` acts on: the binary, the backend settings, the
        configuration's files and lock file, every module ``init`` recorded (with its files)
        and the providers it installed. A module call, provider requirement or lock change
        edits one of these files, so ``init`` runs again."""
        digest = hashlib.sha256()
        binary = Path(self.binary).stat()
        digest.update(f"{self.binary}|{binary.st_size}|{binary.st_mtime_ns}|{backend}".encode())
        data = self._data_dir()
        manifest = data / "modules" / "modules.json"
        dirs = [self.workdir]
        if manifest.exists():
            digest.update(manifest.read_bytes())
            modules = json.loads(manifest.read_text()).get("Modules", [])
            dirs += [self.workdir / m["Dir"] for m in modules if m.get("Dir")]
        for directory in dirs:
            for path in [*sorted(directory.glob("*.tf*")), directory / ".terraform.lock.hcl"]:
                if path.is_file():
                    digest.update(f"{path.resolve()}\0".encode())
                    digest.update(path.read_bytes())
        providers = data / "providers"
        if providers.exists():
            for path in sorted(providers.rglob("*")):
                digest.update(f"{path}->{path.resolve()}\0".encode())
        return digest.hexdigest()

    def plan(self, variables: Mapping[str, Any], show: bool = False) -> Plan:
        with tempfile.TemporaryDirectory(prefix="jerp-plan-", dir=self.scratch) as tmp:
            plan_file = str(Path(tmp) / "plan.tfplan")
            self._with_vars(
                variables,
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                f"-out={plan_file}",
                capture=not show,
            )
            document = json.loads(self._run("show", "-json", plan_file))
        changes = tuple(
            (",".join(rc["change"]["actions"]), rc["address"])
            for rc in document.get("resource_changes", [])
            if rc["change"]["actions"] not in (["no-op"], ["read"])
        )
        return Plan(changes)

    def plan_and_apply(self, variables: Mapping[str, Any]) -> bool:
        """Plan (with the refresh), then apply that saved plan only if it has anything to
        apply; whether it did. ``-detailed-exitcode`` exits 0 only when applying would change
        nothing: no resource or output change, and no drift to record in the state
        (Terraform's own "applyable" test), so skipping the apply then loses nothing."""
        with tempfile.TemporaryDirectory(prefix="jerp-plan-", dir=self.scratch) as tmp:
            plan_file = str(Path(tmp) / "plan.tfplan")
            _, code = self._with_vars(
                variables,
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
                f"-out={plan_file}",
                capture=False,
                ok=(0, 2),
            )
            if code == 0:
                return False
            self._run("apply", "-input=false", "-no-color", plan_file, capture=False)
        return True

    def apply(self, variables: Mapping[str, Any]) -> None:
        self._with_vars(
            variables, "apply", "-input=false", "-no-color", "-auto-approve", capture=False
        )

    def destroy(self, variables: Mapping[str, Any]) -> None:
        self._with_vars(
            variables, "destroy", "-input=false", "-no-color", "-auto-approve", capture=False
        )

    def output(self) -> dict[str, Any]:
        raw = json.loads(self._run("output", "-json"))
        return {name: item["value"] for name, item in raw.items()}


def _group_members(leader: ProcessId) -> list[ProcessId]:
    """Live processes in ``leader``'s process group that started no earlier than it did (so a
    recycled group id is never mistaken for it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pgrp, started = int(fields[2]), start_ticks(int(entry.name))
            if pgrp == leader.pid and started is not None and started >= leader.started:
                members.append(ProcessId(int(entry.name), started))
    return members


def _stop_group(leader: ProcessId) -> None:
    """SIGINT Terraform (it stops its providers and saves its state), then SIGKILL its whole
    process group if it has not finished within GRACEFUL_STOP_S."""
    leader.signal(signal.SIGINT)

    def gone() -> bool:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(leader.pid, os.WNOHANG)
        return not leader.alive()

    with contextlib.suppress(WaitTimeout):
        wait_for(f"Terraform (pid {leader.pid}) to stop after SIGINT", gone, GRACEFUL_STOP_S)
    for member in _group_members(leader):
        member.signal(signal.SIGKILL)
    wait_for(
        f"Terraform's process group {leader.pid} to exit",
        lambda: gone() and not _group_members(leader),
        10.0,
    )


def _clear_stale_lock_info(state_path: Path) -> None:
    """Remove the local backend's lock note when no process holds the state's fcntl lock.

    Terraform locks the state file with ``fcntl`` (the kernel drops it when Terraform dies)
    and writes ``.<state>.lock.info`` beside it, which a killed Terraform leaves behind.
    """
    info = state_path.with_name(f".{state_path.name}.lock.info")
    if not info.exists() or not state_path.exists():
        return
    with state_path.open("r+b") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a live Terraform holds it: the note is true
        info.unlink(missing_ok=True)
        fcntl.lockf(handle, fcntl.LOCK_UN)
