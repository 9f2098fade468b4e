"""Docker for the tests: one engine per session, base images debootstrapped once per run.

The engine is the one that answers (DOCKER_HOST or Docker's default socket); as root with
Debian's docker.io it is a private ``dockerd --iptables=false --ip6tables=false --bridge=none``
that never touches the host's network, stopped at the end of the session. Base images come
from ``debootstrap`` (no registry is needed); their tarballs are cached in ``JERP_IMAGE_CACHE``
(default ``.harness/images``), which CI points at a fixed directory so each base is
debootstrapped once.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.controlplane.localstack import CONSTRAINTS_BY_VERSION
from harness.errors import PrerequisiteError
from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import (
    DOCKER_DIR,
    PLUGIN_DIR,
    TRIXIE_BASE,
    debian_base_image,
    docker_build,
    image_exists,
    localstack_base_context,
)
from harness.settings import REPO_ROOT

# The official images that start without an auth token (from March 2026 the newer ones refuse).
REGISTRY_VERSIONS = ("4.14.0",)

NO_ENGINE = (
    "Run as root with Debian's docker.io and debootstrap installed (`sudo make test`), or start "
    "Docker and set DOCKER_HOST."
)


def image_cache() -> Path:
    return Path(os.environ.get("JERP_IMAGE_CACHE", REPO_ROOT / ".harness" / "images"))


def session_engine() -> Iterator[DockerEngine]:
    """The body of the session's ``docker_engine`` fixture."""
    engine = DockerEngine(REPO_ROOT / ".harness", existing_host=os.environ.get("DOCKER_HOST"))
    try:
        engine.start()
    except PrerequisiteError as exc:
        pytest.skip(f"no Docker engine: {exc}. {NO_ENGINE}")
    owned = engine.owned
    try:
        with engine_environment(engine):
            yield engine
    finally:
        engine.stop()
    if owned:
        alive = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, check=False)
        assert alive.returncode != 0, "the private dockerd still runs after the session"


@contextmanager
def engine_environment(engine: DockerEngine) -> Iterator[None]:
    """DOCKER_HOST for testcontainers (which reads it from the environment) while in use."""
    saved = {key: os.environ.get(key) for key in engine.env()}
    os.environ.update(engine.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def localstack_image(engine: DockerEngine, version: str, work: Path) -> str:
    """``docker/localstack.Dockerfile`` built FROM a LocalStack image with ``localstack-core``
    ``version``: by default a local stand-in for LocalStack's official image
    (``docker/localstack-base.Dockerfile``: that release from PyPI in the official layout, on a
    debootstrapped trixie), as no registry is reachable here; with
    ``JERP_LOCALSTACK_BASE=registry`` (CI on a runner with Docker Hub) the official
    ``localstack/localstack:<version>`` itself, as users build it.

    The stand-in is built once per engine (its tag names the constraints and the Dockerfile it
    was built from); the derived image is rebuilt every session (Docker's layer cache makes that
    quick), so it always carries the plug-in as it is now."""
    base = _localstack_base(engine, version, work)
    return docker_build(
        engine,
        PLUGIN_DIR,
        f"jerp-localstack:test-{version}",
        dockerfile=DOCKER_DIR / "localstack.Dockerfile",
        build_args={"LOCALSTACK_IMAGE": base},
    )


def _localstack_base(engine: DockerEngine, version: str, work: Path) -> str:
    source = os.environ.get("JERP_LOCALSTACK_BASE", "local")
    if source == "registry":
        if version not in REGISTRY_VERSIONS:
            raise PrerequisiteError(
                f"localstack/localstack:{version} does not start without an auth token",
                hint=f"set LOCALSTACK_VERSION to one of {', '.join(REGISTRY_VERSIONS)} with "
                "JERP_LOCALSTACK_BASE=registry, or unset JERP_LOCALSTACK_BASE (local base)",
            )
        return f"localstack/localstack:{version}"
    if source != "local":
        raise PrerequisiteError(
            f"JERP_LOCALSTACK_BASE={source!r} is neither 'local' nor 'registry'",
            hint="'local' (default) builds LocalStack's base with debootstrap; 'registry' "
            "uses localstack/localstack:<LOCALSTACK_VERSION> from Docker Hub",
        )
    constraints = CONSTRAINTS_BY_VERSION[version]
    recipe = constraints.read_bytes() + (DOCKER_DIR / "localstack-base.Dockerfile").read_bytes()
    digest = hashlib.sha256(recipe).hexdigest()[:8]
    base = f"jerp-localstack-base:{version}-{digest}"
    if not image_exists(engine, base):
        docker_build(
            engine,
            localstack_base_context(work, constraints),
            base,
            dockerfile=DOCKER_DIR / "localstack-base.Dockerfile",
            build_args={
                "BASE_IMAGE": debian_base_image(engine, image_cache(), TRIXIE_BASE),
                "LOCALSTACK_VERSION": version,
                "UV_VERSION": _pinned("uv"),
            },
        )
    return base


def _pinned(package: str) -> str:
    """The version constraints.txt pins ``package`` to."""
    text = (REPO_ROOT / "constraints.txt").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.M)
    assert found is not None, f"constraints.txt pins no {package}"
    return found[1]


def terraform_provider_mirror() -> Path | None:
    """The provider mirror this machine's Terraform uses (``filesystem_mirror`` in the
    ``TF_CLI_CONFIG_FILE``, as ``.ci/run`` writes it), to mount into a container; None when
    Terraform downloads providers from the registry."""
    config = os.environ.get("TF_CLI_CONFIG_FILE")
    if not config or not Path(config).is_file():
        return None
    found = re.search(
        r'filesystem_mirror\s*\{[^}]*path\s*=\s*"([^"]+)"', Path(config).read_text(), re.S
    )
    return Path(found[1]) if found else None
