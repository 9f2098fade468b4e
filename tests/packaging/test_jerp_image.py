"""The JERP image: built with no registry, run through testcontainers, checked from outside.

The session's Docker engine and image cache (``tests/docker_support.py``); the base image is a
debootstrapped Debian bookworm imported into that engine.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import PrerequisiteError, WaitTimeout
from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import JERP_BASE, build_jerp_image, debian_base_image, jerp_context
from harness.processes import wait_for, wait_until
from harness.settings import REPO_ROOT
from tests.conftest import free_port
from tests.docker_support import image_cache

pytestmark = pytest.mark.docker

IMAGE = "jerp:test"


@pytest.fixture(scope="module")
def image(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    from harness.packaging.wheelhouse import build_wheelhouse

    work = tmp_path_factory.mktemp("image")
    base = debian_base_image(docker_engine, image_cache(), JERP_BASE)
    wheelhouse = build_wheelhouse(work / "wheelhouse")
    return build_jerp_image(docker_engine, jerp_context(work, Path(wheelhouse)), IMAGE, base)


@pytest.fixture(scope="module")
def running(image: str) -> Iterator[tuple[object, int]]:
    from testcontainers.core.container import DockerContainer

    port = free_port()
    container = (
        DockerContainer(image)
        .with_env("JERP_HOST", "127.0.0.1")
        .with_env("JERP_PORT", str(port))
        .with_env("JERP_INSTANCE_ID", "docker-test")
        .with_tmpfs_mount("/tmp")
        .with_kwargs(network_mode="host", read_only=True)
    )
    container.start()

    def healthz() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except OSError:
            return False
        return True

    try:
        try:
            wait_for("the JERP container to answer /healthz", healthz, 30)
        except WaitTimeout as exc:
            pytest.fail(f"{exc}: {container.get_logs()}")
        yield container, port
    finally:
        container.stop()


def test_greeting_is_byte_exact_from_the_container(running: tuple[object, int]) -> None:
    _, port = running
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/user/yundream", timeout=5) as resp:
        assert resp.read() == b"Hello yundream!. How are you"
        assert resp.headers["X-Served-By"] == "docker-test"


def test_container_runs_as_non_root_on_a_read_only_root(running: tuple[object, int]) -> None:
    container, _ = running
    wrapped = container.get_wrapped_container()  # type: ignore[attr-defined]
    code, out = wrapped.exec_run(["python3", "-c", "import os; print(os.getuid())"])
    assert code == 0
    assert int(out.decode().strip()) != 0
    code, _ = wrapped.exec_run(["touch", "/opt/jerp/x"])
    assert code != 0, "the root filesystem should be read-only"


def test_image_declares_a_healthcheck_that_turns_healthy(running: tuple[object, int]) -> None:
    container, _ = running
    wrapped = container.get_wrapped_container()  # type: ignore[attr-defined]

    def health() -> str:
        wrapped.reload()
        return str(wrapped.attrs["State"].get("Health", {}).get("Status", "none"))

    wait_until(
        "the image's HEALTHCHECK to report healthy", health, lambda s: s == "healthy", 60, poll_s=1
    )


def test_compose_file_is_valid_and_has_two_replicas_behind_a_balancer() -> None:
    from harness.packaging.devenv import COMPOSE_FILE, compose_command

    try:
        command = compose_command()
    except PrerequisiteError as exc:
        pytest.skip(f"{exc} (apt-get install docker-compose to run this test)")
    # compose validates that the build context exists; `make dev` fills it.
    (REPO_ROOT / ".harness" / "docker-context").mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--services"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"jerp-1", "jerp-2", "nlb"}
