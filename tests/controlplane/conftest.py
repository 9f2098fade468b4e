from __future__ import annotations

from typing import Any

import pytest

from harness.controlplane.aws import AwsClients
from tests.localstack_variants import MATRIX


@pytest.fixture(scope="session")
def ec2(clients: AwsClients) -> Any:
    return clients.ec2()


@pytest.fixture(scope="session")
def elbv2(clients: AwsClients) -> Any:
    return clients.elbv2()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The plug-in's tests run on every LocalStack of the matrix (``tests/localstack_variants``):
    the session default (param None: the very LocalStack the other modules share) and each
    variant, one LocalStack per variant."""
    if metafunc.module.__name__.endswith(".test_localstack_plugin") and (
        "localstack" in metafunc.fixturenames
    ):
        metafunc.parametrize(
            "localstack",
            [None, *MATRIX],
            ids=["default", *(variant.id for variant in MATRIX)],
            indirect=True,
            scope="session",
        )
