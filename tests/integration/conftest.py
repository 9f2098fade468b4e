"""A real LocalStack (with the kit's plug-in) for the integration tests: one per session, on a
free port, with its own state directory; stopped at the end, and checked to be gone."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.aws import AwsClients
from harness.errors import PrerequisiteError
from harness.localstack import LocalStackProcess, find_python, health
from harness.settings import HarnessSettings, load_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = ""
    try:
        find_python(None)
    except PrerequisiteError as exc:
        reason = f"LocalStack cannot run here: {exc}"
    if not reason and shutil.which("terraform") is None:
        reason = "terraform is not on PATH (install Terraform >= 1.5 to run the integration tests)"
    if not reason:
        return
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def ls_settings(tmp_path_factory: pytest.TempPathFactory) -> HarnessSettings:
    return load_settings(
        STACK="local",
        LOCALSTACK_ENDPOINT=None,
        LOCALSTACK_PORT=_free_port(),
        HARNESS_STATE_DIR=str(tmp_path_factory.mktemp("localstack-state")),
    )


@pytest.fixture(scope="session")
def localstack(ls_settings: HarnessSettings) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(ls_settings)
    with process:
        yield process
    assert health(process.url, timeout_s=1.0) is None, "LocalStack still answers after stop"


@pytest.fixture(scope="session")
def clients(localstack: LocalStackProcess, ls_settings: HarnessSettings) -> AwsClients:
    return AwsClients(region=ls_settings.region, endpoint_url=localstack.url)


@pytest.fixture(scope="session")
def ec2(clients: AwsClients) -> Any:
    return clients.client("ec2")


@pytest.fixture(scope="session")
def elbv2(clients: AwsClients) -> Any:
    return clients.client("elbv2")
