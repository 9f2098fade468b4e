"""Corpus, Terraform variable sets: ``terraform plan`` of the kit (mock AWS providers, no cloud)
stops what AWS would refuse with the kit's message, and plans what AWS allows.

All cases run in one ``terraform test`` (one file per case, so one failing case cannot skip
another), about ten seconds in all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fidelity.cases import BASE_VARIABLES, Case, by_kind
from tests.terraform.test_terraform_modules import (  # the one way the suite runs Terraform
    _init,
    _terraform,
    tf_env,
    workdir,
)

pytestmark = pytest.mark.requires("terraform")

__all__ = ["tf_env", "workdir"]  # fixtures, used by name

MOCKS = """
mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "aws" {
  alias  = "consumer"
  source = "../../tests/mocks"
}
"""


def _run_name(case: Case) -> str:
    return re.sub(r"\W", "_", case.name)


def _test_file(case: Case) -> str:
    overrides = "\n".join(f"    {k} = {json.dumps(v)}" for k, v in case.variables.items())
    return (
        f'{MOCKS}\nrun "{_run_name(case)}" {{\n  command = plan\n'
        f"  variables {{\n{overrides}\n  }}\n}}\n"
    )


@pytest.fixture(scope="module")
def plan_outcomes(workdir: Path, tf_env: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """Run name -> (status pass/fail/error, diagnostic texts)."""
    kit = workdir / "modules" / "privatelink-kit"
    corpus = kit / "corpus"
    corpus.mkdir()
    for case in by_kind("plan"):
        (corpus / f"{_run_name(case)}.tftest.hcl").write_text(_test_file(case))
    base = kit / "corpus.tfvars.json"
    base.write_text(json.dumps(BASE_VARIABLES))
    _init(kit, tf_env, "-test-directory=corpus")
    result = _terraform(
        ["test", "-test-directory=corpus", "-json", f"-var-file={base}"], kit, tf_env
    )
    outcomes: dict[str, tuple[str, list[str]]] = {}
    for line in result.stdout.splitlines():
        event = json.loads(line)
        run = event.get("@testrun")
        if not run:
            continue
        status, messages = outcomes.get(run, ("", []))
        if event.get("type") == "test_run" and event["test_run"].get("progress") == "complete":
            status = event["test_run"]["status"]
        if event.get("type") == "diagnostic":
            diag = event["diagnostic"]
            messages = [*messages, f"{diag.get('summary', '')}: {diag.get('detail', '')}"]
        outcomes[run] = (status, messages)
    assert outcomes, f"terraform test reported no runs:\n{result.stdout}\n{result.stderr}"
    return outcomes


@pytest.mark.parametrize("case", by_kind("plan"), ids=lambda c: c.name)
def test_plan_case(case: Case, plan_outcomes: dict[str, tuple[str, list[str]]]) -> None:
    status, messages = plan_outcomes[_run_name(case)]
    if case.outcome.allowed:
        assert status == "pass", f"{case.change}: AWS allows it, the kit refused:\n{messages}"
        return
    assert status in ("fail", "error"), f"{case.change}: planned, but AWS refuses it"
    assert any(case.outcome.message in m for m in messages), (
        f"{case.change}: expected a message containing {case.outcome.message!r}, got {messages}"
    )
