"""The corpus table itself: big enough, every case tied to a catalogue row, nothing left
without a runner."""

from __future__ import annotations

import re

from harness.settings import REPO_ROOT
from tests.fidelity.cases import CASES, by_kind
from tests.fidelity.control import CHANGES as CONTROL_CHANGES
from tests.fidelity.deployed import BASE_VARIABLES as DEPLOY_BASE
from tests.fidelity.deployed import CHANGES as DEPLOY_CHANGES
from tests.fidelity.live import CHANGES as LIVE_CHANGES

CATALOGUE = REPO_ROOT / "docs" / "aws-behaviour.md"


def _row_ids() -> set[str]:
    return set(re.findall(r"^\| ([a-z0-9][a-z0-9-]*) \|", CATALOGUE.read_text(), re.MULTILINE))


def test_corpus_has_at_least_twenty_cases_with_unique_names() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 20, len(names)
    assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)


def test_every_case_names_a_catalogue_row() -> None:
    rows = _row_ids()
    assert len(rows) >= 30, f"read {len(rows)} row ids from {CATALOGUE}: has its layout changed?"
    unknown = {case.name: case.row for case in CASES if case.row not in rows}
    assert not unknown, f"cases naming no row of docs/aws-behaviour.md: {unknown}"


def test_every_case_has_an_aws_reference_and_an_expected_outcome() -> None:
    for case in CASES:
        assert case.doc and case.change, case.name
        out = case.outcome
        if out.allowed:
            assert not (out.code or out.check), case.name
        elif case.kind in ("live", "deploy"):
            assert out.check and out.hint, case.name
        else:
            assert out.message or out.code, case.name


def test_corpus_includes_what_aws_allows() -> None:
    assert sum(case.outcome.allowed for case in CASES) >= 5


def test_plan_and_deploy_cases_carry_a_variable_set_and_others_do_not() -> None:
    for case in CASES:
        assert bool(case.variables) == (case.kind in ("plan", "deploy")), case.name


def test_every_control_live_and_deploy_case_has_its_change() -> None:
    assert {c.name for c in by_kind("control")} == set(CONTROL_CHANGES)
    assert {c.name for c in by_kind("live")} == set(LIVE_CHANGES)
    assert {c.name for c in by_kind("deploy")} == set(DEPLOY_CHANGES)


def test_deploy_variables_are_variables_of_the_local_stack() -> None:
    """A deploy case's variables reach the kit only if the stack declares them."""
    kit = (REPO_ROOT / "terraform" / "stacks" / "_shared" / "kit.tf").read_text()
    declared = set(re.findall(r'^variable "(\w+)"', kit, re.MULTILINE))
    used = {k for c in by_kind("deploy") for k in c.variables} | set(DEPLOY_BASE)
    assert used <= declared, sorted(used - declared)
