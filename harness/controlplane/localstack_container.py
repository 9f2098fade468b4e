"""LocalStack in a container (``LOCALSTACK_MODE=container``), started through testcontainers.

The image is the one Docker users put in their compose file: LocalStack's own, derived by
``docker/localstack.Dockerfile`` with the kit's plug-in installed and its provider override set
(``LOCALSTACK_IMAGE``, built from that Dockerfile when the engine does not have it). The
container is configured as the host process is (same services, same gateway port), so
everything after start-up talks to ``settings.localstack_url`` and cannot tell the difference.

Networking: where the engine has Docker's default bridge, the gateway port is published on
``LOCALSTACK_HOST``; the kit's private engine has none (``--bridge=none``, so it never touches
the host's network), and there the container shares the host's network namespace and
LocalStack binds ``LOCALSTACK_HOST:LOCALSTACK_PORT`` itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from harness.controlplane.localstack import SERVICES, health
from harness.errors import LocalStackError, WaitTimeout
from harness.lifecycle import Lifecycle
from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import DOCKER_DIR, PLUGIN_DIR, docker_build, image_exists
from harness.settings import HarnessSettings

CONTAINER_PORT = 4566


def ensure_image(engine: DockerEngine, image: str) -> str:
    """``image`` as the engine has it, else built from ``docker/localstack.Dockerfile`` on
    LocalStack's last free tag (which needs a registry)."""
    if not image_exists(engine, image):
        docker_build(engine, PLUGIN_DIR, image, dockerfile=DOCKER_DIR / "localstack.Dockerfile")
    return image


def _has_default_bridge(engine: DockerEngine) -> bool:
    probe = subprocess.run(
        ["docker", "network", "inspect", "bridge"],
        env=engine.subprocess_env(),
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


class LocalStackContainer(Lifecycle):
    """``with LocalStackContainer(settings, engine) as ls: ls.url``; removed again on exit."""

    def __init__(
        self, settings: HarnessSettings, engine: DockerEngine, ready_timeout_s: float = 120.0
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.host = settings.localstack_host
        self.port = settings.localstack_port
        self.url = f"http://{self.host}:{self.port}"
        self.ready_timeout_s = ready_timeout_s
        self.container_id: str | None = None
        self._container: object | None = None
        # Set by start_detached: where to record the container as soon as it exists, so a
        # harness killed while LocalStack starts leaves a container the next command removes.
        self.record_path: Path | None = None

    def _env(self, gateway: str) -> dict[str, str]:
        return {
            "GATEWAY_LISTEN": gateway,
            "SERVICES": SERVICES,
            "EAGER_SERVICE_LOADING": "1",
            "PROVIDER_OVERRIDE_EC2": "jerp",
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_TELEMETRY_DISABLED": "1",
        }

    def start(self) -> LocalStackContainer:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        # The harness removes what it starts itself (stop(), `make destroy`); Ryuk would also
        # reap a LocalStack that `make deploy` leaves running for later commands.
        testcontainers_config.ryuk_disabled = True
        image = ensure_image(self.engine, self.settings.localstack_image)
        container = DockerContainer(
            image, docker_client_kw={"environment": self.engine.subprocess_env()}
        )
        if _has_default_bridge(self.engine):
            env = self._env(f"0.0.0.0:{CONTAINER_PORT}")
            # Docker's (address, port) form, so the port is published on LOCALSTACK_HOST only
            # (testcontainers' own helper publishes on every address).
            container.ports[f"{CONTAINER_PORT}/tcp"] = (self.host, self.port)  # type: ignore[assignment]
        else:
            env = self._env(f"{self.host}:{self.port}")
            container.with_kwargs(network_mode="host")
        for key, value in env.items():
            container.with_env(key, value)
        container.start()
        self._container = container
        wrapped = container.get_wrapped_container()
        self.container_id = str(wrapped.id)
        self._write_record(ready=False)
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            doc = health(self.url, timeout_s=1.0)
            if doc and doc.get("services"):
                self._write_record(ready=True)
                return self
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                logs = wrapped.logs(tail=30).decode(errors="replace")
                self.stop()
                raise LocalStackError(
                    f"the LocalStack container ({image}) exited during start-up:\n{logs}",
                    hint="read its log above; LOCALSTACK_IMAGE must be built from "
                    "docker/localstack.Dockerfile",
                )
            if time.monotonic() > deadline:
                logs = wrapped.logs(tail=30).decode(errors="replace")
                self.stop()
                raise WaitTimeout(
                    f"the LocalStack container did not answer {self.url}/_localstack/health "
                    f"within {self.ready_timeout_s:.0f}s:\n{logs}",
                    hint="read its log above",
                )
            time.sleep(0.5)

    def _write_record(self, ready: bool) -> None:
        if self.record_path is None or self.container_id is None:
            return
        record = {
            "container": self.container_id,
            "url": self.url,
            "docker_host": self.engine.host,
            "engine_owned": self.engine.owned,
            "ready": ready,
        }
        self.record_path.write_text(json.dumps(record))

    def stop(self) -> None:
        if self.container_id is not None:
            remove_container(self.engine, self.container_id)
        self.container_id = None
        self._container = None


def remove_container(engine: DockerEngine, container_id: str) -> None:
    """Stop (SIGTERM, SIGKILL after 10 s) and remove a LocalStack container and its volumes."""
    for argv in (["stop", "--time", "10"], ["rm", "--force", "--volumes"]):
        result = subprocess.run(
            ["docker", *argv, container_id],
            env=engine.subprocess_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0 and "No such container" not in result.stderr:
        raise LocalStackError(
            f"could not remove the LocalStack container {container_id}: {result.stderr.strip()}",
            hint=f"remove it by hand: docker rm -f {container_id}",
        )


def start_detached(settings: HarnessSettings, record_path: Path) -> str:
    """Start the container for later commands (``make deploy``) and record it in
    ``record_path``; ``stop_detached`` removes it (and stops our own engine, if we started
    one)."""
    engine = DockerEngine(settings.state_dir).start()
    container = LocalStackContainer(settings, engine)
    container.record_path = record_path
    try:
        container.start()
    except BaseException:
        engine.stop()
        raise
    return container.url


def _recorded_engine(settings: HarnessSettings, record: dict[str, object]) -> DockerEngine | None:
    """The engine the record names (not the caller's DOCKER_HOST: a later command may have
    none), or None when it no longer answers, and the container is gone with it."""
    host = str(record.get("docker_host") or "")
    engine = DockerEngine(settings.state_dir, existing_host=host)
    if not engine.answers():
        return None
    engine.host = host
    return engine


def recorded_container_runs(settings: HarnessSettings, record: dict[str, object]) -> bool:
    """Whether the container ``start_detached`` recorded is still running."""
    engine = _recorded_engine(settings, record)
    if engine is None:
        return False
    probe = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}}", str(record["container"])],
        env=engine.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "true"


def stop_detached(settings: HarnessSettings, record: dict[str, object]) -> None:
    engine = _recorded_engine(settings, record)
    if engine is None:
        return
    remove_container(engine, str(record["container"]))
    if record.get("engine_owned"):
        engine.stop_own()
