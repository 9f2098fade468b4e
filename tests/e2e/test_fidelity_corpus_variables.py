"""Corpus, deploy cases (``tests/fidelity``): a Terraform variable set applied to a local stack
of its own makes the named live check fail with a hint naming the cause, or, where AWS allows
it, passes.

One stack for the module (own state directory and LocalStack port, deployed from
``tests/fidelity/deployed.py``'s base variables); each case applies the base with its
variables on top. Cost: the deploy (~2-3 min), then per case an apply and
the health checks' flip (~10 s at the base's 5 s interval), longer where a new user_data
replaces the instances.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.checks.checks import CheckResult, Facts, evaluate, gather_facts, make_probe
from harness.deploy import Deployment, deploy, destroy, reapply
from harness.errors import WaitTimeout
from harness.processes import wait_until
from harness.settings import HarnessSettings, load_settings
from tests.conftest import free_port
from tests.fidelity.cases import Case, by_kind
from tests.fidelity.deployed import BASE_VARIABLES, CHANGES, SETTLE_S, vpce_id_reported

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture(scope="module")
def corpus_settings(
    tmp_path_factory: pytest.TempPathFactory, localstack_env: dict[str, str]
) -> HarnessSettings:
    return load_settings(
        STACK="local",
        HARNESS_STATE_DIR=str(tmp_path_factory.mktemp("corpus-state")),
        LOCALSTACK_PORT=int(os.environ.get("E2E_CORPUS_LOCALSTACK_PORT", free_port())),
        LOCALSTACK_ENDPOINT=None,
        **localstack_env,
    )


@pytest.fixture(scope="module")
def corpus_stack(corpus_settings: HarnessSettings) -> Iterator[HarnessSettings]:
    try:
        deploy(corpus_settings, BASE_VARIABLES)
        yield corpus_settings
    finally:
        # LocalStack holds the resources in memory: stopping it removes them, so destroy
        # skips `terraform destroy` (as the cross-account corpus test does).
        (corpus_settings.state_dir / "terraform-local.tfstate").unlink(missing_ok=True)
        destroy(corpus_settings)


class HintMissing(AssertionError):
    """The named check fails as AWS would, but its hint does not name the cause."""


def _failures(results: list[CheckResult]) -> str:
    return "; ".join(f"{r.name}: {r.observed} ({r.hint})" for r in results if not r.passed)


@pytest.mark.parametrize("case", by_kind("deploy"), ids=lambda case: case.name)
def test_deploy_case(case: Case, corpus_stack: HarnessSettings) -> None:
    change = CHANGES[case.name]
    deployment: Deployment = reapply(corpus_stack, {**BASE_VARIABLES, **case.variables})
    probe = make_probe(corpus_stack, deployment.clients)
    undo = change.action(deployment) if change.action else None

    def facts() -> Facts:
        return gather_facts(deployment.outputs, deployment.clients)

    def results() -> list[CheckResult]:
        return evaluate(probe, facts(), change.checks)

    try:
        if case.outcome.allowed:
            wait_until(
                f"every check to pass with: {case.change}",
                results,
                lambda rs: all(r.passed for r in rs),
                SETTLE_S,
                poll_s=2.0,
                show=_failures,
            )
            if change.reports_vpce_id:
                endpoint_id = str(deployment.outputs["endpoint_id"])
                assert vpce_id_reported(probe, facts()) == endpoint_id, case.change
            return
        wanted = case.outcome.check

        def named() -> CheckResult:
            found = [r for r in results() if r.name == wanted]
            assert found, f"no check named {wanted!r}"
            return found[0]

        # Until the stack settles the check can fail for a passing reason (targets still
        # initial after a replacement): wait for the failure whose hint names the cause.
        try:
            wait_until(
                f"check {wanted!r} to fail naming {case.outcome.hint!r} with: {case.change}",
                named,
                lambda r: not r.passed and case.outcome.hint in r.hint,
                SETTLE_S,
                poll_s=2.0,
                show=lambda r: f"{r.status} {r.observed}; hint: {r.hint}",
            )
        except WaitTimeout:
            last = named()
            if last.passed:
                raise  # the outcome itself is missing: AWS fails here, the emulator did not
            raise HintMissing(f"{wanted!r} fails, but its hint is {last.hint!r}") from None
    finally:
        # No apply of the base alone here: the next case applies the base with its own
        # variables on top, a complete configuration whatever this case left.
        if undo:
            undo()
