from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.controlplane.localstack import LocalStackProcess
from harness.settings import HarnessSettings
from tests.fidelity import control


@pytest.fixture(scope="module")
def world(localstack: LocalStackProcess, ls_settings: HarnessSettings) -> control.World:
    """Accounts A (service), B (consumer), C (stranger) in the session LocalStack."""
    return control.build_world(localstack.url, ls_settings.region)


@pytest.fixture
def fresh(world: control.World) -> Iterator[control.World]:
    """The world, with the endpoints a test creates deleted after it."""
    yield world
    world.cleanup()
