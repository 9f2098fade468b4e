"""A Docker engine to build and run the project's images: the one that answers, or our own.

Our own daemon never touches the host network: ``--iptables=false --ip6tables=false`` and
``--bridge=none`` (no docker0, no route, no NAT rule), its own socket and data root under the
state directory. Containers it runs use the host network namespace (``network_mode=host``)
and bind 127.0.0.1, so no port publishing and no firewall rule is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from harness.errors import PrerequisiteError, WaitTimeout
from harness.lifecycle import Lifecycle


def _mounts_below(path: Path) -> list[tuple[str, str]]:
    """(mount point, file system type) of each mount of this mount namespace at or below
    ``path``."""
    root = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            # Field 5 is the mount point, with spaces and the like escaped as octal; the file
            # system type follows the " - " separator.
            point = fields[4].encode().decode("unicode_escape")
            if point == root or point.startswith(root.rstrip("/") + "/"):
                found.append((point, fields[fields.index("-") + 1]))
    return found


def mounted_below(path: Path) -> bool:
    """Whether a mount point of this mount namespace is ``path`` or lies below it."""
    return bool(_mounts_below(path))


def _answers(host: str | None) -> bool:
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return probe.returncode == 0


class DockerEngine(Lifecycle):
    """``with DockerEngine(state_dir) as engine: engine.host`` -> a DOCKER_HOST that answers.

    ``existing_host`` (normally the caller's DOCKER_HOST, or None for Docker's default socket)
    is used when it answers; otherwise, as root, a private ``dockerd`` is started and stopped
    again on exit.
    """

    def __init__(
        self,
        state_dir: Path,
        existing_host: str | None = None,
        run_dir: Path = Path("/run/jerp-docker"),
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.state_dir = state_dir
        self.existing_host = existing_host
        self.run_dir = run_dir
        self.ready_timeout_s = ready_timeout_s
        self.host = ""
        self.owned = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    def start(self) -> DockerEngine:
        if _answers(self.existing_host):
            # "" is Docker's own default: DOCKER_HOST when the caller has one, else the socket.
            self.host = self.existing_host or ""
            return self
        own = f"unix://{self.socket}"
        if _answers(own):  # a daemon of ours left by an earlier run: reuse it, stop it after
            self.host, self.owned = own, True
            return self
        dockerd = shutil.which("dockerd")
        if dockerd is None or os.geteuid() != 0:
            raise PrerequisiteError(
                "no Docker engine answers and none can be started here"
                + (" (dockerd is not installed)" if dockerd is None else " (not root)"),
                hint="start Docker (or set DOCKER_HOST), or as root install Debian's docker.io "
                "so the harness can run its own daemon",
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data_root = self.state_dir / "docker"
        data_root.mkdir(parents=True, exist_ok=True)
        log = (self.state_dir / "dockerd.log").open("ab")
        self._proc = subprocess.Popen(
            [
                dockerd,
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--host",
                own,
                "--data-root",
                str(data_root),
                "--exec-root",
                str(self.run_dir / "exec"),
                "--pidfile",
                str(self.run_dir / "docker.pid"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.host, self.owned = own, True
        deadline = time.monotonic() + self.ready_timeout_s
        while not _answers(own):
            if self._proc.poll() is not None:
                self.stop()
                raise PrerequisiteError(
                    f"dockerd exited with {self._proc.returncode} during start-up",
                    hint=f"see {self.state_dir / 'dockerd.log'}",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise WaitTimeout(
                    f"dockerd did not answer on {own} within {self.ready_timeout_s:.0f}s",
                    hint=f"see {self.state_dir / 'dockerd.log'}",
                )
            time.sleep(0.5)
        return self

    def answers(self) -> bool:
        """Whether ``existing_host`` (Docker's default when empty) answers right now."""
        return _answers(self.existing_host or None)

    def stop_own(self) -> None:
        """Stop the private daemon an earlier command started (found by its pid file)."""
        self.owned = True
        self.stop()

    def stop(self) -> None:
        if not self.owned:
            return
        pid_file = self.run_dir / "docker.pid"
        pid = self._proc.pid if self._proc else None
        if pid is None and pid_file.exists():
            pid = int(pid_file.read_text().strip() or 0) or None
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pid = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        elif pid:
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        if not (pid and Path(f"/proc/{pid}").exists()):
            self._remove_run_dir()
        self.owned = False
        self._proc = None

    def _remove_run_dir(self) -> None:
        """Remove the run directory (socket, pid file, exec root) of a daemon that is gone,
        unless something is still mounted below it: removing files there would reach into
        that mount.

        dockerd bind-mounts the host's network namespace at ``exec/netns/default`` and leaves
        it mounted when it stops; that one is ours to release (unmounting a namespace file
        leaves the namespace itself alone). Any other mount keeps the directory.
        """
        for point, fstype in _mounts_below(self.run_dir / "exec" / "netns"):
            if fstype == "nsfs":
                # Without umount (or when it fails) the mount stays, and with it the directory.
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(["umount", point], capture_output=True, check=False, timeout=30)
        if self.run_dir.exists() and not mounted_below(self.run_dir):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """Environment for docker/compose/testcontainers talking to this engine."""
        # Ryuk, testcontainers' reaper, is an image from a registry; the tests and the
        # harness remove their containers themselves.
        env = {"TESTCONTAINERS_RYUK_DISABLED": "true"}
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env

    def subprocess_env(self) -> dict[str, str]:
        """The caller's environment plus :meth:`env`, for a ``docker`` command."""
        return {**os.environ, **self.env()}
