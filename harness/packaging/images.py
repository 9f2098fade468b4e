"""Docker images of the project, built with no registry: JERP, HAProxy, LocalStack, the harness.

Base images come either from a registry (the Dockerfiles' defaults, a laptop's usual case) or,
with no registry, from ``debootstrap --variant=minbase`` plus ``docker import``. The
root-filesystem tarball is cached in a directory the caller chooses (a fixed one in CI), named
after the suite and the package set, so a run debootstraps each base once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.packaging.docker_engine import DockerEngine
from harness.settings import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
PLUGIN_DIR = REPO_ROOT / "harness" / "controlplane" / "localstack_plugin"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The host's CA store (Debian's layout). Builds that download from PyPI trust what the host
# trusts, so they work behind the same TLS-inspecting proxy the host may sit behind.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
JERP_BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")


@dataclass(frozen=True)
class DebianBase:
    """A minbase Debian image with ``packages``, made by debootstrap (no registry needed)."""

    name: str
    suite: str
    packages: tuple[str, ...]

    @property
    def tag(self) -> str:
        digest = hashlib.sha256(",".join(sorted(self.packages)).encode()).hexdigest()[:8]
        return f"{self.name}:{self.suite}-{digest}"


# JERP's wheelhouse is built by the kit's Python (3.11), so its image is bookworm (3.11).
JERP_BASE = DebianBase("jerp-base", "bookworm", JERP_BASE_PACKAGES)
# The harness and LocalStack need Python >= 3.13: trixie. The data-plane tools are part of
# the base so the harness build only verifies them; HAProxy for `make dev` comes from it too.
TRIXIE_BASE = DebianBase(
    "jerp-trixie-base",
    "trixie",
    (
        *JERP_BASE_PACKAGES,
        "haproxy",
        "dnsmasq-base",
        "nftables",
        "iproute2",
        "procps",
        "psmisc",
        "curl",
        "bind9-dnsutils",
        "make",
    ),
)


def _run(argv: Sequence[str], engine: DockerEngine | None = None, what: str = "") -> None:
    env = {**os.environ, **engine.env()} if engine is not None else None
    result = subprocess.run(list(argv), env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PrerequisiteError(
            f"{what or argv[0]} failed ({result.returncode}): "
            f"{(result.stdout + result.stderr).strip()[-3000:]}",
            hint="read the error above; `docker` needs a running engine, debootstrap needs root",
        )


def debian_rootfs(cache_dir: Path, base: DebianBase) -> Path:
    """The cached root filesystem tarball of ``base`` (debootstrapped on first use)."""
    tarball = cache_dir / f"{base.tag.replace(':', '-')}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise PrerequisiteError(
            "debootstrap is not installed", hint="apt-get install debootstrap (as root)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs = cache_dir / f"{tarball.stem}.rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(base.packages)}",
                base.suite,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            what=f"debootstrap {base.suite}",
        )
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(rootfs, arcname=".")
        partial.rename(tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return tarball


def image_exists(engine: DockerEngine, tag: str) -> bool:
    probe = subprocess.run(
        ["docker", "image", "inspect", tag],
        env={**os.environ, **engine.env()},
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def debian_base_image(engine: DockerEngine, cache_dir: Path, base: DebianBase) -> str:
    """``base`` imported into ``engine`` (once), its tag returned."""
    if not image_exists(engine, base.tag):
        _run(
            ["docker", "import", str(debian_rootfs(cache_dir, base)), base.tag],
            engine,
            what="docker import",
        )
    return base.tag


def docker_build(
    engine: DockerEngine,
    context: Path,
    tag: str,
    dockerfile: Path | None = None,
    build_args: dict[str, str] | None = None,
) -> str:
    """``docker build`` with the host network (our engine has no bridge); fails loudly."""
    argv = ["docker", "build", "--network", "host", "-t", tag]
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    _run([*argv, str(context)], engine, what=f"docker build ({tag})")
    return tag


def add_host_certificates(context: Path, bundle: Path = HOST_CA_BUNDLE) -> None:
    """``certs/`` in a build context: the host's CA bundle when it has one, else empty."""
    (context / "certs").mkdir(parents=True, exist_ok=True)
    if bundle.is_file():
        shutil.copy2(bundle, context / "certs" / "host-ca-certificates.crt")


def localstack_base_context(state_dir: Path, constraints: Path) -> Path:
    """Build context of ``docker/localstack-base.Dockerfile``: constraints and certificates."""
    context = state_dir / "localstack-base-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy2(constraints, context / "constraints.txt")
    add_host_certificates(context)
    return context


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
    args = {"BASE_IMAGE": base_image} if base_image else None
    return docker_build(engine, context, tag, build_args=args)


HARNESS_IMAGE = "jerp-harness:latest"
DEFAULT_HARNESS_BASE = "python:3.13-slim-trixie"


def harness_context(state_dir: Path, terraform_bin: str) -> Path:
    """Build context of ``docker/harness.Dockerfile``: the committed tree, terraform and the
    host's CA certificates.

    Terraform is not a Debian package, so the host's binary is copied in; the provider comes
    from the registry at run time, or from a mirror mounted at /opt/terraform-providers.
    """
    found = shutil.which(terraform_bin)
    if found is None:
        raise PrerequisiteError(
            f"terraform ({terraform_bin}) is not on PATH: the harness image copies the host's",
            hint="install Terraform >= 1.9 for linux/amd64 (or set TERRAFORM to its path)",
        )
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
    shutil.copy2(found, context / "bin" / "terraform")
    add_host_certificates(context)
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
    return docker_build(engine, context, tag, build_args={"BASE_IMAGE": base_image})
