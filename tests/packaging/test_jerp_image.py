"""The JERP image: built with no registry, run through testcontainers, checked from outside.

Uses the Docker engine that answers (DOCKER_HOST or the default socket); as root with
Debian's docker.io installed it starts a private one (no iptables, no bridge) and stops it
after. The base image is a debootstrap'ed Debian imported into that engine, cached under
``.harness/images`` so later runs skip the download.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import PrerequisiteError
from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import (
    JERP_BASE_PACKAGES,
    build_jerp_image,
    debian_base_image,
    jerp_context,
)
from harness.settings import REPO_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.docker

CACHE = REPO_ROOT / ".harness" / "images"
IMAGE = "jerp:test"


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    try:
        eng = DockerEngine(REPO_ROOT / ".harness", existing_host=os.environ.get("DOCKER_HOST"))
        eng.start()
    except PrerequisiteError as exc:
        pytest.skip(
            f"no Docker engine: {exc}. Run as root with Debian's docker.io and debootstrap "
            "installed (`sudo make test`), or start Docker and set DOCKER_HOST."
        )
    try:
        yield eng
    finally:
        eng.stop()
    if eng.host.endswith("/run/jerp-docker/docker.sock"):
        assert subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0


@pytest.fixture(scope="module")
def image(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    from harness.packaging.wheelhouse import build_wheelhouse

    work = tmp_path_factory.mktemp("image")
    base = debian_base_image(engine, CACHE, JERP_BASE_PACKAGES, "jerp-base:bookworm")
    wheelhouse = build_wheelhouse(work / "wheelhouse")
    return build_jerp_image(engine, jerp_context(work, Path(wheelhouse)), IMAGE, base)


@pytest.fixture(scope="module")
def running(engine: DockerEngine, image: str) -> Iterator[tuple[object, int]]:
    from testcontainers.core.container import DockerContainer

    port = free_port()
    saved = {k: os.environ.get(k) for k in engine.env()}
    os.environ.update(engine.env())
    container = (
        DockerContainer(image)
        .with_env("JERP_HOST", "127.0.0.1")
        .with_env("JERP_PORT", str(port))
        .with_env("JERP_INSTANCE_ID", "docker-test")
        .with_tmpfs_mount("/tmp")
        .with_kwargs(network_mode="host", read_only=True)
    )
    container.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = container.get_logs()
                    pytest.fail(f"JERP container did not answer /healthz within 30s: {logs}")
                time.sleep(0.3)
        yield container, port
    finally:
        container.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        wrapped.reload()
        status = wrapped.attrs["State"].get("Health", {}).get("Status", "none")
        if status == "healthy":
            break
        time.sleep(1)
    assert status == "healthy"


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
