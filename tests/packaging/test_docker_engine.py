"""The private Docker engine's bookkeeping, without starting dockerd."""

from __future__ import annotations

import subprocess
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


@pytest.mark.root
def test_dockerds_namespace_mount_is_released_and_any_other_mount_keeps_the_directory(
    tmp_path: Path,
) -> None:
    # What dockerd leaves after it stops: the host's network namespace bound at
    # exec/netns/default (seen in /proc/self/mountinfo after every CI run).
    run_dir = tmp_path / "jerp-docker"
    netns = run_dir / "exec" / "netns" / "default"
    other = run_dir / "exec" / "other"
    netns.parent.mkdir(parents=True)
    netns.touch()
    other.mkdir()
    engine = DockerEngine(tmp_path / "state", run_dir=run_dir)
    try:
        subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(netns)], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "none", str(other)], check=True)
        engine.stop_own()
        assert not mounted_below(netns)
        assert mounted_below(other) and run_dir.is_dir()  # a mount not ours: kept, dir kept

        subprocess.run(["umount", str(other)], check=True)
        engine.stop_own()
        assert not run_dir.exists()
    finally:
        for point in (netns, other):
            if mounted_below(point):
                subprocess.run(["umount", str(point)], check=False)
