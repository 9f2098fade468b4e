"""LocalStack, the real one from PyPI, run as a host process with the kit's plug-in.

LocalStack gets its own virtualenv (``.venv-localstack``): it pins its own boto3/moto and needs
a newer Python than the kit (``warnings.deprecated``: 3.13+). The plug-in in
``harness/controlplane/localstack_plugin`` is installed into that venv and loaded by
LocalStack through its entry points. ``LOCALSTACK_ENDPOINT`` points the harness at a LocalStack
that is already running instead (then nothing here starts or stops anything).

Everything LocalStack writes goes under ``<state dir>/localstack/`` (its filesystem root, its
temporary directory, and S3's object store, which LocalStack otherwise keeps in a fixed
``/tmp/localstack-s3-storage`` shared by every LocalStack on the machine); stopping it removes
that directory. A LocalStack the harness starts is recorded the moment it is spawned, so a
harness killed while waiting for it to answer leaves a record the next run acts on.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness.errors import LocalStackError, PrerequisiteError, WaitTimeout
from harness.lifecycle import Lifecycle, log_tail
from harness.processes import ProcessId, pid_alive, wait_for
from harness.settings import REPO_ROOT, HarnessSettings

PLUGIN_DIR = Path(__file__).resolve().parent / "localstack_plugin"
CONSTRAINTS = PLUGIN_DIR / "constraints.txt"
MIN_PYTHON = (3, 13)
SERVICES = "ec2,elbv2,s3,iam,sts,ssm"
# The localstack-core releases the plug-in is tested on (LOCALSTACK_VERSION), each with the
# constraints its virtualenv is pinned by: 4.14.0 pins older boto3/botocore/awscli.
CONSTRAINTS_BY_VERSION = {
    "2026.3.0": CONSTRAINTS,
    "4.14.0": PLUGIN_DIR / "constraints-4.14.0.txt",
}
DEFAULT_VERSION = "2026.3.0"
REQUIREMENTS = (
    "cbor2<6",
    "pyopenssl==25.1.0",
    "cryptography==45.0.7",
    "service-identity",
)
RECORD = "localstack.json"
READY_POLL_S = 0.1
# LocalStack's S3 provider reads its store's root from this module constant when it is
# created; set it before LocalStack starts (there is no setting for it).
_LAUNCH = (
    "import sys; import localstack.services.s3.provider as s3; "
    "s3.DEFAULT_S3_TMP_DIR = sys.argv.pop(1); "
    "from localstack.runtime.main import main; main()"
)


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python(explicit: str | None) -> str:
    """A Python new enough for LocalStack: the setting, then PATH, then pyenv's versions."""
    if explicit:
        version = _python_version(explicit)
        if version is None or version < MIN_PYTHON:
            raise PrerequisiteError(
                f"LOCALSTACK_PYTHON={explicit} is not a Python >= {'.'.join(map(str, MIN_PYTHON))}",
                hint="point LOCALSTACK_PYTHON at a python3.13 (or newer) interpreter",
            )
        return explicit
    candidates = [shutil.which(f"python3.{minor}") for minor in range(20, MIN_PYTHON[1] - 1, -1)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(
        glob.glob(str(pyenv_root / "versions" / "3.*" / "bin" / "python3")), reverse=True
    )
    for candidate in candidates:
        if candidate and (_python_version(candidate) or (0, 0)) >= MIN_PYTHON:
            return candidate
    raise PrerequisiteError(
        "LocalStack needs Python >= 3.13 and none was found (PATH, pyenv)",
        hint="install one (e.g. `pyenv install 3.13`, or your distribution's python3.13) "
        "or set LOCALSTACK_PYTHON to it",
    )


def _venv_dir(settings: HarnessSettings) -> Path:
    if settings.localstack_venv:
        return settings.localstack_venv
    suffix = (
        "" if settings.localstack_version == DEFAULT_VERSION else f"-{settings.localstack_version}"
    )
    return REPO_ROOT / f".venv-localstack{suffix}"


# Part of the venv's fingerprint: bump it when the way the venv is built changes, so venvs
# built the old way are rebuilt (2: bytecode compiled at install).
VENV_LAYOUT = "2"


def _fingerprint(version: str) -> str:
    digest = hashlib.sha256(f"{version}|{VENV_LAYOUT}".encode())
    constraints = CONSTRAINTS_BY_VERSION[version]
    for path in [constraints, PLUGIN_DIR / "pyproject.toml", *sorted(PLUGIN_DIR.glob("*/*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_localstack_venv(settings: HarnessSettings) -> Path:
    """Build (or reuse) LocalStack's virtualenv with pinned versions and the plug-in."""
    venv = _venv_dir(settings)
    stamp = venv / ".jerp-stamp"
    version = settings.localstack_version
    fingerprint = _fingerprint(version)
    if stamp.exists() and stamp.read_text() == fingerprint:
        return venv
    python = find_python(settings.localstack_python)
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    # uv (a declared harness dependency, next to this interpreter) installs the ~100 packages
    # in seconds where pip took minutes; pip when it is absent (a harness installed without it).
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        # --native-tls: the system's CA store, as pip (PIP_CERT) uses it behind a TLS proxy.
        # --compile-bytecode: uv writes no .pyc (pip does), and where PYTHONDONTWRITEBYTECODE
        # is set (CI images, this kit's own Dockerfile) LocalStack would then compile its
        # ~10,000 modules from source at every start.
        pip = [str(uv), "pip", "install", "--quiet", "--native-tls", "--compile-bytecode"]
        pip += ["--python", str(venv / "bin" / "python")]
        reinstall = "--reinstall"
    else:
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        reinstall = "--force-reinstall"
    for argv in (
        [
            *pip,
            "-c",
            str(CONSTRAINTS_BY_VERSION[version]),
            f"localstack-core[runtime]=={version}",
            *REQUIREMENTS,
        ],
        [*pip, "--no-deps", reinstall, str(PLUGIN_DIR)],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PrerequisiteError(
                f"installing LocalStack into {venv} failed: {result.stderr.strip()[-1500:]}",
                hint="LocalStack comes from PyPI: check network access, then rerun "
                "`make test` (or `python -m harness localstack install`)",
            )
    # setuptools leaves a build/ directory next to the plug-in's sources.
    shutil.rmtree(PLUGIN_DIR / "build", ignore_errors=True)
    stamp.write_text(fingerprint)
    return venv


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def health(url: str, timeout_s: float = 2.0) -> dict[str, object] | None:
    """LocalStack's health document, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=timeout_s) as resp:
            data: dict[str, object] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


class LocalStackProcess(Lifecycle):
    """``with LocalStackProcess(settings) as ls: ls.url``: LocalStack on loopback, then gone."""

    def __init__(self, settings: HarnessSettings, ready_timeout_s: float = 90.0) -> None:
        self.settings = settings
        self.host = settings.localstack_host
        self.port = settings.localstack_port
        self.url = f"http://{self.host}:{self.port}"
        self.ready_timeout_s = ready_timeout_s
        self.data_dir = settings.state_dir / "localstack"
        self.log_path = settings.state_dir / "localstack.log"
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        # Set by start_detached: where to record the process as soon as it is spawned.
        self.record_path: Path | None = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
        env.update(
            GATEWAY_LISTEN=f"{self.host}:{self.port}",
            SERVICES=SERVICES,
            EAGER_SERVICE_LOADING="1",
            PROVIDER_OVERRIDE_EC2="jerp",
            FILESYSTEM_ROOT=str(self.data_dir),
            TMPDIR=str(self.data_dir / "tmp"),
            DNS_ADDRESS="0",
            OVERRIDE_IN_DOCKER="0",
            SKIP_SSL_CERT_DOWNLOAD="1",
            DISABLE_EVENTS="1",
            LOCALSTACK_TELEMETRY_DISABLED="1",
        )
        return env

    def start(self) -> LocalStackProcess:
        self.spawn()
        return self.wait_ready()

    def spawn(self) -> None:
        """Start the process (recorded at once, see ``record_path``) without waiting for it."""
        if not _port_free(self.host, self.port):
            raise LocalStackError(
                f"port {self.host}:{self.port} is already taken",
                hint="stop whatever listens there (`make destroy` if it is ours), set "
                "LOCALSTACK_PORT to a free port, or LOCALSTACK_ENDPOINT to use that LocalStack",
            )
        venv = ensure_localstack_venv(self.settings)
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [str(venv / "bin" / "python"), "-c", _LAUNCH, str(self.data_dir / "s3")],
                env=self._env(),
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = proc.pid
        self._proc = proc
        self._write_record(ready=False)

    def wait_ready(self) -> LocalStackProcess:
        """Wait until the spawned LocalStack answers; stop it when it does not in time."""
        proc = self._proc
        assert proc is not None, "spawn() first"

        def answers() -> bool:
            doc = health(self.url, timeout_s=1.0)
            if doc and doc.get("services"):
                return True
            if proc.poll() is not None:
                self.pid = None
                raise LocalStackError(
                    f"LocalStack exited with {proc.returncode} during start-up:\n"
                    + log_tail(self.log_path, 20),
                    hint=f"see {self.log_path}",
                )
            return False

        try:
            wait_for(
                f"LocalStack to answer {self.url}/_localstack/health",
                answers,
                self.ready_timeout_s,
                hint=f"see {self.log_path}",
                # Fixed and short (the default pause grows to 0.5 s): until LocalStack listens
                # a look is a refused connection on loopback, and a deploy waits on this.
                poll_s=READY_POLL_S,
            )
        except WaitTimeout:
            self.stop()
            raise
        self._write_record(ready=True)
        return self

    def _write_record(self, ready: bool) -> None:
        if self.record_path is None or self.pid is None:
            return
        ident = ProcessId.of(self.pid)
        record = {**(ident.record() if ident else {"pid": self.pid}), "url": self.url}
        self.record_path.write_text(json.dumps({**record, "ready": ready}))

    def stop(self) -> None:
        if self.pid is None:
            return
        _terminate_group(self.pid)
        self.pid = None
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _terminate_group(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group LocalStack leads, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return

        def gone() -> bool:
            try:
                waited, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                waited = 0
            return waited == pid or not pid_alive(pid)

        with contextlib.suppress(WaitTimeout):  # then the next, stronger signal
            wait_for(f"LocalStack (pid {pid}) to exit after {sig.name}", gone, timeout_s)
            return


def _record_path(settings: HarnessSettings) -> Path:
    return settings.state_dir / RECORD


def _recorded(settings: HarnessSettings) -> dict[str, object] | None:
    path = _record_path(settings)
    if not path.exists():
        return None
    data: dict[str, object] = json.loads(path.read_text())
    return data


def is_running(settings: HarnessSettings) -> bool:
    return health(settings.localstack_url) is not None


def start_detached(settings: HarnessSettings) -> str:
    """Start LocalStack for later commands to use (``make deploy``); record its pid."""
    return begin_detached(settings)()


def begin_detached(settings: HarnessSettings) -> Callable[[], str]:
    """:func:`start_detached` in two steps: a host process is spawned (and recorded) now, and
    the returned call waits until it answers (its URL), so that the caller can do work that
    does not need it meanwhile. A container, or an external LocalStack, is ready (or refused)
    before this returns."""
    if settings.localstack_endpoint:
        if not is_running(settings):
            raise LocalStackError(
                f"LOCALSTACK_ENDPOINT={settings.localstack_endpoint} does not answer",
                hint="start that LocalStack, or unset LOCALSTACK_ENDPOINT to let the harness "
                "start one",
            )
        url = settings.localstack_url
        return lambda: url
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if settings.localstack_mode == "container":
        from harness.controlplane import localstack_container

        url = localstack_container.start_detached(settings, _record_path(settings))
        return lambda: url
    process = LocalStackProcess(settings)
    process.record_path = _record_path(settings)
    process.spawn()
    return lambda: process.wait_ready().url


def begin_running(settings: HarnessSettings) -> Callable[[], str] | None:
    """Make sure a LocalStack answers, in two steps (see :func:`begin_detached`): None when one
    answers already, else the call that waits until the one started answers.

    A LocalStack that answers is adopted (also one whose start a killed harness did not see
    finish); a recorded one that does not answer (dead, or killed half-way) is stopped and
    its files removed before a fresh one starts.
    """
    if is_running(settings):
        return None
    if _recorded(settings) is not None:
        stop_detached(settings)
    return begin_detached(settings)


def stop_detached(settings: HarnessSettings) -> None:
    """Stop the LocalStack ``start_detached`` recorded and remove what it wrote; nothing to
    do when there is none."""
    record = _recorded(settings)
    if record is None:
        return
    if "container" in record:
        from harness.controlplane import localstack_container

        localstack_container.stop_detached(settings, record)
        _record_path(settings).unlink(missing_ok=True)
        return
    ident = ProcessId.from_record(record)
    if ident is not None and ident.alive():
        _terminate_group(ident.pid)
    shutil.rmtree(settings.state_dir / "localstack", ignore_errors=True)
    _record_path(settings).unlink(missing_ok=True)


def describe(settings: HarnessSettings) -> str:
    record = _recorded(settings)
    answering = is_running(settings)
    if settings.localstack_endpoint:
        return f"external {settings.localstack_url} ({'answering' if answering else 'down'})"
    if record is None:
        return "not started by the harness" + (" (something answers there)" if answering else "")
    if "container" in record:
        return f"container {str(record['container'])[:12]} at {record.get('url')} " + (
            "(up)" if answering else "(down)"
        )
    return f"pid {record.get('pid')} at {record.get('url')} ({'up' if answering else 'down'})"
