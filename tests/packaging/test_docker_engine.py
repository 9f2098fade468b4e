"""The private Docker engine's bookkeeping, without starting dockerd."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.packaging import docker_engine
from harness.packaging.docker_engine import DockerEngine, mounted_below


def test_stopping_a_gone_daemon_removes_its_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "jerp-docker"
    (run_dir / "exec" / "containerd").mkdir(parents=True)
    (run_dir / "docker.pid").write_text("")
    engine = DockerEngine(tmp_path / "state", run_dir=run_dir)
    engine.stop_own()
    assert not run_dir.exists()


def test_a_run_directory_with_a_mount_below_it_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "jerp-docker"
    (run_dir / "exec").mkdir(parents=True)
    monkeypatch.setattr(docker_engine, "mounted_below", lambda path: path == run_dir)
    DockerEngine(tmp_path / "state", run_dir=run_dir).stop_own()
    assert (run_dir / "exec").is_dir()


def test_mount_points_are_found_at_and_below_a_path_only() -> None:
    assert mounted_below(Path("/proc"))
    assert mounted_below(Path("/"))
    assert not mounted_below(Path("/proc/self/fd-not-a-mount-point-x"))
