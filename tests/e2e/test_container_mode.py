"""The whole path with ``LOCALSTACK_MODE=container``: ``python -m harness deploy``, ``check`` and
``destroy`` as ``make`` runs them, with LocalStack in a container of the image built from
``docker/localstack.Dockerfile`` (on the local stand-in for ``localstack/localstack:4.14.0``)
instead of a host process. The data plane, Terraform and the checks are the same as in host
mode; what differs is where the control plane runs, so this proves the container serves the
whole deploy (plug-in, change notice, health reports) and that ``destroy`` removes it.
About four minutes (one image build shared with the plug-in matrix, one NLB apply).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.packaging.docker_engine import DockerEngine
from harness.settings import REPO_ROOT
from tests.conftest import free_port
from tests.docker_support import localstack_image

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker]

COMMAND_TIMEOUT_S = 600.0
GREETING_LINE = "Hello yundream!. How are you"


def _containers(engine: DockerEngine) -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--no-trunc"],
        env=engine.subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_deploy_check_destroy_with_localstack_in_a_container(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    image = localstack_image(docker_engine, "4.14.0", tmp_path / "image")
    state_dir = tmp_path / "state"
    env = {
        **{k: v for k, v in os.environ.items() if k != "LOCALSTACK_ENDPOINT"},
        # The session's engine through DOCKER_HOST: the harness uses it and leaves it running.
        **docker_engine.env(),
        "STACK": "local",
        "HARNESS_STATE_DIR": str(state_dir),
        "LOCALSTACK_PORT": str(free_port()),
        "LOCALSTACK_MODE": "container",
        "LOCALSTACK_IMAGE": image,
    }
    before = _containers(docker_engine)

    def harness(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    try:
        code, deployed = harness("deploy")
        assert code == 0, deployed[-4000:]
        assert GREETING_LINE in deployed, deployed[-4000:]
        started = _containers(docker_engine) - before
        assert len(started) == 1, f"expected LocalStack's one container, found {started}"
        code, checked = harness("check", "--junit", str(tmp_path / "checks.xml"))
        assert code == 0 and " 0 failed" in checked, checked[-4000:]
    finally:
        code, destroyed = harness("destroy")
    assert code == 0, destroyed[-4000:]
    # Asked of the session's engine, which destroy must leave running (it did not start it).
    assert _containers(docker_engine) - before == set(), "LocalStack's container outlived destroy"
