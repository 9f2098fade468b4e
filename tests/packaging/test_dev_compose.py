"""`make dev` brought up for real through the kit's Docker engine, with no registry: both
replicas serve behind HAProxy, a change to the mounted source shows within seconds, health
checks turn healthy, and `make dev-down` leaves no container, network or volume.

The containers are compose's (the thing under test), started by `make dev` itself.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.packaging.devenv import HOST_NETWORK_FILE, PROJECT, compose_file
from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import JERP_BASE, TRIXIE_BASE, debian_base_image
from harness.settings import REPO_ROOT
from tests.conftest import free_port
from tests.docker_support import image_cache

pytestmark = [pytest.mark.docker, pytest.mark.requires("docker", "make")]

LABEL = f"label=com.docker.compose.project={PROJECT}"
GREETING = b"Hello yundream!. How are you"


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read(), resp.headers.get("X-Served-By", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""
    except OSError:
        return 0, b"", ""


def _wait(
    what: str, deadline_s: float, probe: Callable[[], bool], dev: subprocess.Popen[bytes], log: Path
) -> float:
    started = time.monotonic()
    while not probe():
        gone = dev.poll() is not None
        if gone or time.monotonic() - started > deadline_s:
            why = f"`make dev` exited with {dev.returncode}" if gone else f"{deadline_s:.0f}s"
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            pytest.fail(f"waiting for {what}: {why}; make dev output:\n{tail}")
        time.sleep(0.3)
    return time.monotonic() - started


def _docker(engine: DockerEngine, *args: str) -> str:
    return subprocess.run(
        ["docker", *args], env=engine.subprocess_env(), capture_output=True, text=True, check=True
    ).stdout


def test_make_dev_serves_both_replicas_reloads_and_cleans_up(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    # Imported once per run into the session's engine: `make dev` finds them and builds on them.
    debian_base_image(docker_engine, image_cache(), JERP_BASE)
    debian_base_image(docker_engine, image_cache(), TRIXIE_BASE)
    source = tmp_path / "jerp"
    shutil.copytree(REPO_ROOT / "jerp", source, ignore=shutil.ignore_patterns("__pycache__"))
    ports = {"NLB_PORT": free_port(), "JERP_1_PORT": free_port(), "JERP_2_PORT": free_port()}
    host_network = compose_file(docker_engine) == HOST_NETWORK_FILE
    url = f"http://127.0.0.1:{ports['NLB_PORT'] if host_network else 8080}/user/yundream"
    env = {
        **docker_engine.subprocess_env(),
        "HARNESS_STATE_DIR": str(tmp_path / "state"),
        "JERP_SRC": str(source),
        **{key: str(value) for key, value in ports.items()},
    }
    networks_before = _docker(docker_engine, "network", "ls", "-q")
    volumes_before = _docker(docker_engine, "volume", "ls", "-q")
    log = tmp_path / "make-dev.log"
    started = time.monotonic()
    with log.open("wb") as out:
        dev = subprocess.Popen(
            ["make", "dev"], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        up_s = _wait(
            "the greeting through HAProxy", 150, lambda: _get(url)[1] == GREETING, dev, log
        )

        served: set[str] = set()

        def both_served() -> bool:
            status, body, by = _get(url)
            if status == 200 and body == GREETING:
                served.add(by)
            return served == {"jerp-1", "jerp-2"}

        _wait("X-Served-By to show both replicas", 30, both_served, dev, log)

        def healthy() -> bool:
            lines = _docker(docker_engine, "ps", "--filter", LABEL, "--format", "{{.Status}}")
            statuses = lines.split("\n")[:-1]
            return len(statuses) == 3 and sum("(healthy)" in s for s in statuses) == 2

        _wait("both replicas' health checks to report healthy", 60, healthy, dev, log)

        app = source / "app.py"
        app.write_text(app.read_text().replace("How are you", "How are you today"))
        changed = b"Hello yundream!. How are you today"
        reload_s = _wait("the edited greeting", 20, lambda: _get(url)[1] == changed, dev, log)
        # Both replicas watch the same tree: a few more requests, all edited.
        deadline = time.monotonic() + 10
        while {_get(url)[1] for _ in range(4)} != {changed}:
            assert time.monotonic() < deadline, "one replica kept serving the old greeting"
            time.sleep(0.3)
    finally:
        down = subprocess.run(
            ["make", "dev-down"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
    print(
        f"make dev: up {up_s:.0f}s, reload {reload_s:.1f}s, total {time.monotonic() - started:.0f}s"
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert _docker(docker_engine, "ps", "-a", "--filter", LABEL, "-q") == ""
    assert _docker(docker_engine, "network", "ls", "-q") == networks_before
    assert _docker(docker_engine, "volume", "ls", "-q") == volumes_before
