"""LocalStack lifecycle without LocalStack: Python discovery, recorded state, port checks."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from harness.controlplane import localstack
from harness.errors import LocalStackError, PrerequisiteError
from harness.settings import HarnessSettings, load_settings


def _fake_python(path: Path, version: str) -> str:
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _settings(tmp_path: Path, **extra: object) -> HarnessSettings:
    return load_settings(
        STACK="local",
        LOCALSTACK_ENDPOINT=None,
        HARNESS_STATE_DIR=str(tmp_path / "state"),
        **extra,
    )


def test_explicit_python_too_old_names_the_setting(tmp_path: Path) -> None:
    old = _fake_python(tmp_path / "python-old", "3 11")
    with pytest.raises(PrerequisiteError) as info:
        localstack.find_python(old)
    assert "LOCALSTACK_PYTHON" in str(info.value)
    assert "3.13" in info.value.hint


def test_explicit_python_new_enough_is_used(tmp_path: Path) -> None:
    new = _fake_python(tmp_path / "python-new", "3 13")
    assert localstack.find_python(new) == new


def test_missing_explicit_python_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError):
        localstack.find_python(str(tmp_path / "no-such-python"))


def test_no_python_anywhere_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setattr(localstack.Path, "home", lambda: tmp_path)
    with pytest.raises(PrerequisiteError) as info:
        localstack.find_python(None)
    assert "pyenv install" in info.value.hint


def test_python_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_python(tmp_path / "python3.13", "3 13")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert localstack.find_python(None) == str(tmp_path / "python3.13")


def test_stop_detached_without_record_is_a_no_op(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    localstack.stop_detached(settings)
    assert not (settings.state_dir / localstack.RECORD).exists()


def test_stop_detached_forgets_a_dead_record(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.state_dir.mkdir(parents=True)
    record = settings.state_dir / localstack.RECORD
    # A pid far above pid_max: never alive.
    record.write_text(json.dumps({"pid": 2**30, "url": "http://127.0.0.1:1"}))
    localstack.stop_detached(settings)
    assert not record.exists()


def test_describe_without_record(tmp_path: Path) -> None:
    settings = _settings(tmp_path, LOCALSTACK_PORT=_closed_port())
    assert localstack.describe(settings) == "not started by the harness"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_on_a_taken_port_names_port_and_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        settings = _settings(tmp_path, LOCALSTACK_PORT=port)
        with pytest.raises(LocalStackError) as info:
            localstack.LocalStackProcess(settings).start()
    assert str(port) in str(info.value)
    assert "LOCALSTACK_PORT" in info.value.hint


def test_external_endpoint_that_does_not_answer_is_reported(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings = settings.model_copy(
        update={"localstack_endpoint": f"http://127.0.0.1:{_closed_port()}"}
    )
    with pytest.raises(LocalStackError) as info:
        localstack.start_detached(settings)
    assert "LOCALSTACK_ENDPOINT" in str(info.value)
