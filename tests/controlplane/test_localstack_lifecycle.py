"""LocalStack lifecycle: Python discovery, recorded state, recovery of a LocalStack left by a
killed harness, port checks (without LocalStack), and where a real one writes (integration)."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from harness.controlplane import localstack
from harness.controlplane.localstack_container import LocalStackContainer
from harness.errors import LocalStackError, PrerequisiteError
from harness.processes import ProcessId
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
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
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


def test_everything_localstack_writes_is_under_the_state_directory(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    process = localstack.LocalStackProcess(settings)
    env = process._env()
    root = settings.state_dir / "localstack"
    assert env["FILESYSTEM_ROOT"] == str(root)
    assert env["TMPDIR"] == str(root / "tmp")
    # S3's store is a module constant in LocalStack, set by the launch line before it starts.
    assert "DEFAULT_S3_TMP_DIR = sys.argv.pop(1)" in localstack._LAUNCH


def _spawn_unanswering(settings: HarnessSettings, ready: bool) -> subprocess.Popen[bytes]:
    """A process recorded as our LocalStack that never answers (killed half-way through its
    start, as a harness killed with SIGKILL leaves it)."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    ident = ProcessId.of(proc.pid)
    assert ident is not None
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "localstack" / "s3").mkdir(parents=True)
    (settings.state_dir / localstack.RECORD).write_text(
        json.dumps({**ident.record(), "url": settings.localstack_url, "ready": ready})
    )
    return proc


def test_recorded_localstack_that_does_not_answer_is_stopped_before_a_fresh_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, LOCALSTACK_PORT=_closed_port())
    stale = _spawn_unanswering(settings, ready=False)
    started: list[bool] = []

    def fake_start(s: HarnessSettings) -> Callable[[], str]:
        # The stale one is gone, with its files, before the new one starts.
        started.append(stale.poll() is not None)
        assert not (s.state_dir / "localstack").exists()
        return lambda: s.localstack_url

    monkeypatch.setattr(localstack, "begin_detached", fake_start)
    ready = localstack.begin_running(settings)
    assert ready is not None and ready() == settings.localstack_url
    assert started == [True]
    assert not (settings.state_dir / localstack.RECORD).exists()


def test_stop_detached_removes_localstack_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path, LOCALSTACK_PORT=_closed_port())
    proc = _spawn_unanswering(settings, ready=True)
    localstack.stop_detached(settings)
    assert proc.wait(timeout=5) is not None
    assert not (settings.state_dir / "localstack").exists()
    assert not (settings.state_dir / localstack.RECORD).exists()


@pytest.mark.integration
def test_s3_objects_are_stored_under_the_state_directory(
    localstack: localstack.LocalStackProcess | LocalStackContainer, ls_settings: HarnessSettings
) -> None:
    """Host mode: under the state directory (removed by destroy), not in the shared
    /tmp/localstack-s3-storage. Container mode: inside the container (removed with it), so
    neither place on the host has it."""
    s3 = boto3.client(
        "s3",
        endpoint_url=localstack.url,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"jerp-placement-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
    )
    s3.put_object(Bucket=bucket, Key="wheel.whl", Body=b"x" * 1024)
    try:
        store = ls_settings.state_dir / "localstack" / "s3"
        in_store = any(bucket in str(p) for p in store.rglob("*"))
        if isinstance(localstack, LocalStackContainer):
            assert not in_store, f"the container wrote {bucket} to the host's {store}"
        else:
            assert in_store, f"no {bucket} under {store}"
        shared = Path(tempfile.gettempdir()) / "localstack-s3-storage"
        assert not any(bucket in str(p) for p in shared.rglob("*"))
    finally:
        s3.delete_object(Bucket=bucket, Key="wheel.whl")
        s3.delete_bucket(Bucket=bucket)
