"""The end-to-end stack: LocalStack + Terraform + the local data plane, deployed once per
session through the coordinator's ``harness.deploy`` and destroyed at the end.

The session uses its own state directory and a free LocalStack port, so it never touches a
stack the user deployed with ``make deploy``. (Terraform's local state still lives in
``terraform/stacks/local``: do not run ``make deploy`` while the e2e suite runs.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from harness.deploy import Deployment, deploy, destroy
from harness.settings import HarnessSettings, load_settings
from tests.conftest import free_port


@pytest.fixture(scope="session")
def e2e_settings(
    tmp_path_factory: pytest.TempPathFactory, localstack_env: dict[str, str]
) -> HarnessSettings:
    state = tmp_path_factory.mktemp("e2e-state")
    return load_settings(
        STACK="local",
        HARNESS_STATE_DIR=str(state),
        LOCALSTACK_PORT=int(os.environ.get("E2E_LOCALSTACK_PORT", free_port())),
        LOCALSTACK_ENDPOINT=None,
        **localstack_env,
    )


@pytest.fixture(scope="session")
def deployment(e2e_settings: HarnessSettings) -> Iterator[Deployment]:
    started = time.monotonic()
    try:
        deployed = deploy(e2e_settings)
    except BaseException:
        destroy(e2e_settings)
        raise
    deployed.timings["e2e_deploy_total"] = time.monotonic() - started
    try:
        yield deployed
    finally:
        destroy(e2e_settings)  # safe to repeat after test_zz_teardown's own destroy
