"""`make lint`: every static check the project keeps, in one place.

Runs ruff (lint and format check), mypy, ``terraform fmt -check``, ``terraform validate`` on
each stack and example, and checkov on ``terraform/``. Each tool's own output is shown; the
run fails if any of them fails, after running all of them so one run shows every problem.

Two lanes run side by side, each in order: the Python tools, and the Terraform ones (checkov
last: it reads the directories ``terraform init`` writes). Output is printed step by step.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.settings import REPO_ROOT

PYTHON_PATHS = ["jerp", "harness", "tests", "bench"]


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]
    cwd: Path = REPO_ROOT
    lane: str = "terraform"


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def lint_steps(terraform_bin: str = "terraform") -> list[Step]:
    paths = [p for p in PYTHON_PATHS if (REPO_ROOT / p).exists()]
    steps = [
        Step("ruff check", [_venv_tool("ruff"), "check", *paths], lane="python"),
        Step("ruff format", [_venv_tool("ruff"), "format", "--check", *paths], lane="python"),
        Step("mypy", [_venv_tool("mypy")], lane="python"),
        Step("terraform fmt", [terraform_bin, "fmt", "-check", "-recursive", "terraform"]),
    ]
    # Every root configuration: the stacks and the examples readers copy.
    roots = [
        p
        for kind in ("stacks", "examples")
        for p in sorted((REPO_ROOT / "terraform" / kind).glob("*"))
        if p.is_dir() and not p.name.startswith("_")
    ]
    for root in roots:
        label = f"{root.parent.name}/{root.name}"
        steps.append(
            Step(
                f"terraform init ({label})",
                [terraform_bin, "init", "-backend=false", "-input=false", "-no-color"],
                root,
            )
        )
        steps.append(
            Step(
                f"terraform validate ({label})",
                [terraform_bin, "validate", "-no-color"],
                root,
            )
        )
    steps.append(
        Step(
            "checkov",
            [
                _venv_tool("checkov"),
                "-d",
                "terraform",
                "--quiet",
                "--compact",
                "--skip-download",  # no Prisma Cloud look-ups: the scan stays offline
                "--framework",
                "terraform",
            ],
        )
    )
    return steps


def run_lint(terraform_bin: str = "terraform") -> int:
    """Run every step; return the number of failed steps."""
    if shutil.which(terraform_bin) is None:
        raise PrerequisiteError(
            f"{terraform_bin!r} is not on PATH",
            hint="install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)",
        )
    failed: list[str] = []
    printing = threading.Lock()

    def run_lane(steps: list[Step]) -> None:
        for step in steps:
            done = subprocess.run(
                step.argv,
                cwd=step.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            with printing:
                print(f"==> {step.name}", flush=True)
                print(done.stdout, end="", flush=True)
                if done.returncode != 0:
                    failed.append(step.name)

    steps = lint_steps(terraform_bin)
    lanes = {step.lane: [s for s in steps if s.lane == step.lane] for step in steps}
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        for future in [pool.submit(run_lane, lane) for lane in lanes.values()]:
            future.result()
    if failed:
        print(f"lint failed: {', '.join(failed)}", file=sys.stderr)
    else:
        print("lint passed")
    return len(failed)
