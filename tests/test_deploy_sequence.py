"""The order of a local deploy: what needs no cloud runs while LocalStack starts, and a
failure there still stops the LocalStack that deploy started."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import deploy
from harness.controlplane import localstack
from harness.settings import HarnessSettings, load_settings


class _FakeTerraform:
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    def init(self) -> None:
        self.steps.append("terraform init")

    def apply(self, variables: Any) -> None:
        self.steps.append("terraform apply")

    def output(self) -> dict[str, object]:
        return {}


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    done: list[str] = []

    def begin_running(settings: HarnessSettings) -> Callable[[], str]:
        done.append("localstack spawned")

        def answers() -> str:
            done.append("localstack answers")
            return settings.localstack_url

        return answers

    def wheelhouse(settings: HarnessSettings) -> Path:
        done.append("wheelhouse")
        return settings.state_dir / "wheelhouse"

    @contextlib.contextmanager
    def dataplane(settings: HarnessSettings) -> Iterator[Callable[[], None]]:
        done.append("data plane launched")
        yield lambda: done.append("data plane converged")

    monkeypatch.setattr(localstack, "begin_running", begin_running)
    monkeypatch.setattr(localstack, "stop_detached", lambda s: done.append("localstack stopped"))
    monkeypatch.setattr(deploy, "_build_wheelhouse", wheelhouse)
    monkeypatch.setattr(deploy, "_terraform", lambda s: _FakeTerraform(done))
    monkeypatch.setattr(deploy, "_dataplane_alongside", dataplane)
    monkeypatch.setattr(deploy, "_require_root_for_dataplane", lambda s: None)
    return done


def _settings(tmp_path: Path) -> HarnessSettings:
    return load_settings(
        STACK="local", LOCALSTACK_ENDPOINT=None, HARNESS_STATE_DIR=str(tmp_path / "state")
    )


def test_wheelhouse_and_terraform_init_run_while_localstack_starts(
    tmp_path: Path, steps: list[str]
) -> None:
    deployment = deploy._deploy(_settings(tmp_path), {})
    assert steps == [
        "localstack spawned",
        "wheelhouse",
        "terraform init",
        "localstack answers",
        "data plane launched",
        "terraform apply",
        "data plane converged",
    ]
    # The LocalStack phase is the wall time until both are done; the two inside it are named.
    assert list(deployment.timings) == [
        "wheelhouse (alongside localstack)",
        "terraform_init (alongside localstack)",
        "localstack",
        "terraform_apply",
        "dataplane",
    ]


def test_a_failure_while_localstack_starts_stops_it(
    tmp_path: Path, steps: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: HarnessSettings) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(deploy, "_build_wheelhouse", broken)
    with pytest.raises(OSError, match="disk full"):
        deploy._deploy(_settings(tmp_path), {})
    assert steps == ["localstack spawned", "localstack stopped"]
