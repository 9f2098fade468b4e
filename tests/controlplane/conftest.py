from __future__ import annotations

from typing import Any

import pytest

from harness.controlplane.aws import AwsClients


@pytest.fixture(scope="session")
def ec2(clients: AwsClients) -> Any:
    return clients.ec2()


@pytest.fixture(scope="session")
def elbv2(clients: AwsClients) -> Any:
    return clients.elbv2()
