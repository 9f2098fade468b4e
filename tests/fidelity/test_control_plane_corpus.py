"""Corpus, control-plane changes: each call gets AWS's error code from the session LocalStack
(with the PrivateLink plug-in), or succeeds where AWS allows it. About ten seconds: boto3 only,
no Terraform and no NLB wait."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.fidelity import control
from tests.fidelity.cases import Case, by_kind

pytestmark = pytest.mark.integration


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
