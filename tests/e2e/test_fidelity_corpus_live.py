"""Corpus, live cases (``tests/fidelity``): a change to the deployed stack makes the named live
check fail with a hint naming the cause; undone, every check passes again.

Runs on the session deployment (no apply of its own). Cost: ~15 s for a blocked path, ~75 s for
target health (the kit's health checks flip after 3 x 10 s, each way).
"""

from __future__ import annotations

import pytest

from harness.checks.checks import CheckResult, Facts, evaluate, gather_facts, make_probe
from harness.checks.probes import Probe
from harness.deploy import Deployment
from harness.processes import wait_until
from harness.settings import HarnessSettings
from tests.fidelity.cases import Case, by_kind
from tests.fidelity.live import CHANGES, OneRequestPerUrl

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _named(results: list[CheckResult], name: str) -> CheckResult:
    found = [r for r in results if r.name == name]
    assert found, f"no check named {name!r} among {[r.name for r in results]}"
    return found[0]


def _failures(results: list[CheckResult]) -> str:
    return "; ".join(f"{r.name}: {r.observed} ({r.hint})" for r in results if not r.passed)


@pytest.mark.parametrize("case", by_kind("live"), ids=lambda c: c.name)
def test_live_case(case: Case, deployment: Deployment, e2e_settings: HarnessSettings) -> None:
    change = CHANGES[case.name]
    wanted = case.outcome.check
    probe: Probe = make_probe(e2e_settings, deployment.clients)
    quick = OneRequestPerUrl(probe)

    def facts() -> Facts:
        return change.view(gather_facts(deployment.outputs, deployment.clients))

    def named() -> CheckResult:
        return _named(evaluate(quick, facts(), change.checks), wanted)

    def path(open_: bool) -> None:
        is_open = change.path_open
        if is_open is None:
            return
        wait_until(
            f"the data plane to {'reopen' if open_ else 'close'} the path ({case.change})",
            lambda: is_open(probe, facts()),
            open_.__eq__,
            change.timeout_s,
            poll_s=0.5,
        )

    assert named().passed, f"{wanted!r} not green before: {case.change}"
    taken = change.apply(deployment)
    try:
        path(open_=False)
        failing = wait_until(
            f"check {wanted!r} to fail after: {case.change}",
            named,
            lambda r: not r.passed,
            change.timeout_s,
            poll_s=1.0,
            show=lambda r: f"{r.status} {r.observed}",
        )
        assert case.outcome.hint in failing.hint, f"{case.change}: hint was {failing.hint!r}"
    finally:
        change.undo(deployment, taken)

    path(open_=True)
    wait_until(
        f"every check to pass again after undoing: {case.change}",
        lambda: evaluate(probe, gather_facts(deployment.outputs, deployment.clients)),
        lambda results: all(r.passed for r in results),
        change.timeout_s,
        poll_s=1.0,
        show=_failures,
    )
