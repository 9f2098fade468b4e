"""Docker images of the project, built with no registry: JERP and the all-in-one harness.

Base images come either from a registry (the Dockerfiles' defaults, a laptop's usual case) or,
here, from ``debootstrap --variant=minbase`` plus ``docker import``; the root-filesystem
tarball is cached under the state directory so only the first build pays for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.packaging.docker_engine import DockerEngine
from harness.settings import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
JERP_BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")


def _run(argv: Sequence[str], engine: DockerEngine | None = None, what: str = "") -> None:
    env = {**os.environ, **engine.env()} if engine is not None else None
    result = subprocess.run(list(argv), env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PrerequisiteError(
            f"{what or argv[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}",
            hint="read the error above; `docker` needs a running engine, debootstrap needs root",
        )


def debian_rootfs(cache_dir: Path, packages: Sequence[str], name: str) -> Path:
    """A cached minbase Debian root filesystem tarball with ``packages`` installed."""
    tarball = cache_dir / f"{name}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise PrerequisiteError(
            "debootstrap is not installed", hint="apt-get install debootstrap (as root)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs = cache_dir / f"{name}.rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            what="debootstrap",
        )
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(rootfs, arcname=".")
        partial.rename(tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return tarball


def import_image(engine: DockerEngine, tarball: Path, tag: str) -> str:
    _run(["docker", "import", str(tarball), tag], engine, what="docker import")
    return tag


def image_exists(engine: DockerEngine, tag: str) -> bool:
    probe = subprocess.run(
        ["docker", "image", "inspect", tag],
        env={**os.environ, **engine.env()},
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def debian_base_image(
    engine: DockerEngine, cache_dir: Path, packages: Sequence[str], tag: str
) -> str:
    if not image_exists(engine, tag):
        import_image(engine, debian_rootfs(cache_dir, packages, tag.replace(":", "-")), tag)
    return tag


def jerp_context(state_dir: Path, wheelhouse: Path) -> Path:
    """The build context of ``docker/Dockerfile``: the Dockerfile and the wheelhouse."""
    context = state_dir / "docker-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy2(DOCKER_DIR / "Dockerfile", context / "Dockerfile")
    shutil.copytree(wheelhouse, context / "wheelhouse")
    return context


def build_jerp_image(
    engine: DockerEngine, context: Path, tag: str, base_image: str | None = None
) -> str:
    argv = ["docker", "build", "--network", "host", "-t", tag]
    if base_image:
        argv += ["--build-arg", f"BASE_IMAGE={base_image}"]
    _run([*argv, str(context)], engine, what="docker build (JERP image)")
    return tag


HARNESS_IMAGE = "jerp-harness:latest"
DEFAULT_HARNESS_BASE = "python:3.12-slim-bookworm"


def harness_context(state_dir: Path, terraform_bin: str) -> Path:
    """Build context of ``docker/harness.Dockerfile``: the committed tree and terraform."""
    context = state_dir / "harness-context"
    shutil.rmtree(context, ignore_errors=True)
    (context / "repo").mkdir(parents=True)
    (context / "bin").mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise PrerequisiteError(
            "`git archive HEAD` failed: the harness image is built from the committed tree",
            hint="run it from a git checkout of the kit",
        )
    subprocess.run(["tar", "-x", "-C", str(context / "repo")], input=archive.stdout, check=True)
    found = shutil.which(terraform_bin)
    if found:
        shutil.copy2(found, context / "bin" / "terraform")
    shutil.copy2(DOCKER_DIR / "harness.Dockerfile", context / "Dockerfile")
    return context


def build_harness_image(
    engine: DockerEngine,
    state_dir: Path,
    terraform_bin: str,
    base_image: str = DEFAULT_HARNESS_BASE,
    tag: str = HARNESS_IMAGE,
) -> str:
    context = harness_context(state_dir, terraform_bin)
    _run(
        [
            "docker",
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            tag,
            str(context),
        ],
        engine,
        what="docker build (harness image)",
    )
    return tag
