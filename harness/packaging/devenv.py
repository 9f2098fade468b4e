"""`make dev`: the Docker compose development setup (two JERP replicas behind HAProxy).

Works on any engine: the one that answers, or (as root, with Debian's docker.io) the kit's
private one. Base images come from the registry when it is reachable; otherwise they are
debootstrapped here (bookworm with Python for JERP, trixie with Debian's haproxy) and handed
to compose as build arguments. On an engine without Docker's default bridge (the private
one), compose.host-network.yaml is used instead: the same services on the host's loopback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.packaging.docker_engine import DockerEngine
from harness.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"
HOST_NETWORK_FILE = REPO_ROOT / "docker" / "compose.host-network.yaml"
PROJECT = "jerp-dev"
REGISTRY = ("registry-1.docker.io", 443)


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plug-in), else the standalone ``docker-compose``."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise PrerequisiteError(
        "neither `docker compose` nor `docker-compose` is installed",
        hint="install Docker with the compose plug-in (Debian: apt-get install docker.io "
        "docker-compose) and start the engine",
    )


def registry_reachable(timeout_s: float = 3.0) -> bool:
    """Whether Docker Hub answers on its port (the defaults' base images live there)."""
    try:
        with socket.create_connection(REGISTRY, timeout=timeout_s):
            return True
    except OSError:
        return False


def _has_default_bridge(engine: DockerEngine) -> bool:
    probe = subprocess.run(
        ["docker", "network", "inspect", "bridge"],
        env=engine.subprocess_env(),
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def local_bases(engine: DockerEngine, cache_dir: Path) -> dict[str, str]:
    """Compose's base-image variables, for bases debootstrapped here (no registry)."""
    from harness.packaging.images import JERP_BASE, TRIXIE_BASE, debian_base_image

    return {
        "JERP_BASE_IMAGE": debian_base_image(engine, cache_dir, JERP_BASE),
        "HAPROXY_BASE_IMAGE": debian_base_image(engine, cache_dir, TRIXIE_BASE),
    }


def compose_file(engine: DockerEngine) -> Path:
    return COMPOSE_FILE if _has_default_bridge(engine) else HOST_NETWORK_FILE


def compose(action: str, state_dir: Path) -> int:
    """Run the development setup: ``up`` (foreground, live reload), ``down`` or ``config``."""
    with DockerEngine(state_dir) as engine:
        env = engine.subprocess_env()
        context = state_dir / "docker-context"
        # compose checks that the build context exists for every command, `down` included.
        env["JERP_CONTEXT"] = str(context)
        context.mkdir(parents=True, exist_ok=True)
        if action == "up":
            # The image installs JERP from the wheelhouse, as the EC2 instances do.
            from harness.packaging.images import jerp_context
            from harness.packaging.wheelhouse import build_wheelhouse

            jerp_context(state_dir, build_wheelhouse(state_dir / "wheelhouse"))
            if not registry_reachable():
                # Bases the caller named (JERP_BASE_IMAGE, HAPROXY_BASE_IMAGE) win.
                env = {**local_bases(engine, state_dir / "images"), **env}
        base = [*compose_command(), "-p", PROJECT, "-f", str(compose_file(engine))]
        args = {
            "up": ["up", "--build"],
            "down": ["down", "--remove-orphans", "--volumes"],
            "config": ["config"],
        }
        return subprocess.run([*base, *args[action]], env=env, check=False).returncode
