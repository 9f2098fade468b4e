"""Corpus, control-plane changes: each call gets AWS's error code from the session LocalStack
(with the PrivateLink plug-in), or succeeds where AWS allows it. About ten seconds: boto3 only,
no Terraform and no NLB wait."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from harness.controlplane.localstack import LocalStackProcess
from harness.settings import HarnessSettings
from tests.fidelity import control
from tests.fidelity.cases import Case, by_kind

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(localstack: LocalStackProcess, ls_settings: HarnessSettings) -> control.World:
    return control.build_world(localstack.url, ls_settings.region)


@pytest.fixture
def fresh(world: control.World) -> Iterator[control.World]:
    yield world
    world.cleanup()


@pytest.mark.parametrize("case", by_kind("control"), ids=lambda c: c.name)
def test_control_case(case: Case, fresh: control.World) -> None:
    change = control.CHANGES[case.name]
    if case.outcome.allowed:
        change(fresh)  # raises (test fails) if LocalStack refuses what AWS allows
        return
    with pytest.raises(ClientError) as info:
        change(fresh)
    error = info.value.response["Error"]
    assert error["Code"] == case.outcome.code, f"{case.change}: {error}"
    assert case.outcome.message in error.get("Message", ""), f"{case.change}: {error}"
