"""`make dev`: the Docker compose development setup (two JERP replicas behind HAProxy)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"


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


def compose(action: str, state_dir: Path) -> int:
    """Run the development setup: ``up`` (foreground, live reload), ``down`` or ``config``."""
    if action == "up":
        # The image installs JERP from the wheelhouse, as the EC2 instances do.
        from harness.packaging.images import jerp_context
        from harness.packaging.wheelhouse import build_wheelhouse

        jerp_context(state_dir, build_wheelhouse(state_dir / "wheelhouse"))
    base = [*compose_command(), "-f", str(COMPOSE_FILE)]
    args = {"up": ["up", "--build"], "down": ["down", "--remove-orphans"], "config": ["config"]}
    return subprocess.run([*base, *args[action]], check=False).returncode
