"""One class around the Terraform CLI (tftest-style): parsed results, never raw strings.

Every command runs with ``-input=false -no-color``, variables go through a generated JSON
var-file (no shell quoting), the environment is passed explicitly, and a failure raises
:class:`TerraformError` carrying Terraform's own stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PrerequisiteError, TerraformError

INSTALL_HINT = (
    "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or set "
    "TERRAFORM to its path"
)


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


class Terraform:
    """Terraform in one working directory (a stack)."""

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
        self.env = {**env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        self.state_path = state_path

    def _run(self, *args: str, capture: bool = True) -> str:
        argv = [self.binary, *args]
        result = subprocess.run(
            argv,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise TerraformError(
                f"`terraform {' '.join(args[:1])}` in {self.workdir} failed:\n"
                f"{result.stderr.strip()[-4000:]}",
                hint="read Terraform's message above; `make plan` shows what it wants to do",
            )
        return result.stdout or ""

    def _state_args(self) -> list[str]:
        return [f"-state={self.state_path}"] if self.state_path else []

    def _var_file(self, variables: Mapping[str, Any]) -> str:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".tfvars.json", prefix="jerp-", delete=False
        ) as handle:
            json.dump(dict(variables), handle)
        return handle.name

    def _with_vars(self, variables: Mapping[str, Any], *args: str, capture: bool = True) -> str:
        var_file = self._var_file(variables)
        try:
            return self._run(*args, f"-var-file={var_file}", capture=capture)
        finally:
            Path(var_file).unlink(missing_ok=True)

    def init(self) -> None:
        self._run("init", "-input=false", "-no-color")

    def plan(self, variables: Mapping[str, Any], show: bool = False) -> Plan:
        with tempfile.TemporaryDirectory(prefix="jerp-plan-") as tmp:
            plan_file = str(Path(tmp) / "plan.tfplan")
            self._with_vars(
                variables,
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                f"-out={plan_file}",
                *self._state_args(),
                capture=not show,
            )
            document = json.loads(self._run("show", "-json", plan_file))
        changes = tuple(
            (",".join(rc["change"]["actions"]), rc["address"])
            for rc in document.get("resource_changes", [])
            if rc["change"]["actions"] not in (["no-op"], ["read"])
        )
        return Plan(changes)

    def apply(self, variables: Mapping[str, Any]) -> None:
        self._with_vars(
            variables,
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            *self._state_args(),
            capture=False,
        )

    def destroy(self, variables: Mapping[str, Any]) -> None:
        self._with_vars(
            variables,
            "destroy",
            "-input=false",
            "-no-color",
            "-auto-approve",
            *self._state_args(),
            capture=False,
        )

    def output(self) -> dict[str, Any]:
        raw = json.loads(self._run("output", "-json", *self._state_args()))
        return {name: item["value"] for name, item in raw.items()}
