"""Preflight: everything a command needs, checked before it starts anything, reported at once.

Each missing thing is a :class:`Finding` with the one command that fixes it. ``make deploy``
and ``make test`` run it first; on Debian/Ubuntu as root, ``--install`` installs the missing
Debian packages itself (and says so); elsewhere it prints the command. Nothing that does not
come from apt is ever installed here.

This module imports only the standard library at load time, so ``python3 -m harness.preflight``
also runs before the kit's virtualenv exists (it may be what is missing: ``python3-venv``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from harness.errors import PrerequisiteError
from harness.processes import ProcessId

if TYPE_CHECKING:
    from harness.settings import HarnessSettings

Purpose = Literal["deploy", "test"]

# program -> the Debian package that provides it
DATAPLANE_TOOLS = {
    "ip": "iproute2",
    "ss": "iproute2",  # the kernel forwarder resets a down target's flows with ss -K
    "nsenter": "util-linux",
    "nft": "nftables",
    "haproxy": "haproxy",
    "dnsmasq": "dnsmasq-base",
    "dig": "dnsutils",
    "nslookup": "dnsutils",
    "curl": "curl",
}
TEST_TOOLS = {"wrk": "wrk", "dot": "graphviz"}
MIN_HAPROXY = (2, 6)
MIN_TERRAFORM_DEFAULT = (1, 5)
REGISTRY = ("registry.terraform.io", 443)
AWS_PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
# Terraform's implied local mirror directories on Linux (CLI configuration docs).
IMPLIED_MIRRORS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
TERRAFORM_INSTALL = "https://developer.hashicorp.com/terraform/install (HashiCorp's apt repository)"


@dataclass(frozen=True)
class Finding:
    """One missing prerequisite: what, the command that fixes it, and its Debian package when
    apt can install it. ``required=False`` only warns (some tests skip without it)."""

    what: str
    fix: str
    apt: str | None = None
    required: bool = True


def _run(argv: Sequence[str], timeout_s: float = 10.0) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _version(text: str | None, pattern: str) -> tuple[int, ...] | None:
    match = re.search(pattern, text or "")
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _dotted(version: Iterable[int]) -> str:
    return ".".join(map(str, version))


def _apt_fix(packages: Iterable[str]) -> str:
    return f"apt-get install -y {' '.join(sorted(set(packages)))}"


# ----------------------------------------------------------------------------- system checks


def check_root() -> list[Finding]:
    if os.geteuid() == 0:
        return []
    return [
        Finding(
            "root (the local data plane creates network namespaces)",
            "rerun with sudo (`sudo make deploy`), or run the harness image (README, "
            "'Without root')",
        )
    ]


def check_tools(
    tools: dict[str, str], which: Callable[[str], str | None] = shutil.which
) -> list[Finding]:
    return [
        Finding(f"{tool} is not installed", _apt_fix([package]), apt=package)
        for tool, package in tools.items()
        if which(tool) is None
    ]


def check_haproxy(output: str | None) -> list[Finding]:
    """``haproxy -vv``: a version >= 2.6, built with network namespace support."""
    if output is None:
        return []  # not installed: check_tools reports it
    version = _version(output, r"HA-?Proxy version (\d+\.\d+)")
    fix = _apt_fix(["haproxy"]) + " (Debian 12 / Ubuntu 22.04 and later ship 2.6+)"
    if version is None or version < MIN_HAPROXY:
        seen = _dotted(version) if version else "unknown"
        return [Finding(f"haproxy >= {_dotted(MIN_HAPROXY)} (found {seen})", fix, apt="haproxy")]
    if "network namespace support" not in output:
        return [Finding("haproxy built with network namespace support", fix, apt="haproxy")]
    return []


def check_venv_module() -> list[Finding]:
    """``python3 -m venv`` needs ensurepip, which Debian ships apart (python3-venv)."""
    import importlib.util

    if importlib.util.find_spec("ensurepip") is not None:
        return []
    return [
        Finding(
            f"{sys.executable} cannot create virtualenvs (no ensurepip)",
            _apt_fix(["python3-venv"]),
            apt="python3-venv",
        )
    ]


def system_findings(purpose: Purpose, haproxy_vv: str | None = None) -> list[Finding]:
    """What apt (and sudo) can fix: root, the data-plane programs, HAProxy's build."""
    tools = dict(DATAPLANE_TOOLS)
    if purpose == "test":
        tools.update(TEST_TOOLS)
    found = check_root() + check_tools(tools)
    if haproxy_vv is None and shutil.which("haproxy"):
        haproxy_vv = _run(["haproxy", "-vv"])
    return found + check_haproxy(haproxy_vv)


def check_docker(purpose: Purpose, container_mode: bool) -> list[Finding]:
    if shutil.which("docker") and (shutil.which("dockerd") or os.environ.get("DOCKER_HOST")):
        return []
    if container_mode:
        return [Finding("docker (LOCALSTACK_MODE=container)", _apt_fix(["docker.io"]), "docker.io")]
    if purpose == "test":
        return [
            Finding(
                "docker (the Docker image tests skip without it)",
                _apt_fix(["docker.io", "docker-compose", "debootstrap"]),
                apt=None,
                required=False,
            )
        ]
    return []


# ----------------------------------------------------------------------------- toolchain checks


def required_terraform(versions_tf: Path) -> tuple[int, ...]:
    """The stack's ``required_version = ">= X"``, or 1.5."""
    try:
        text = versions_tf.read_text()
    except OSError:
        return MIN_TERRAFORM_DEFAULT
    return _version(text, r'required_version\s*=\s*">=\s*([\d.]+)') or MIN_TERRAFORM_DEFAULT


def check_terraform(binary: str, minimum: tuple[int, ...]) -> list[Finding]:
    want = f"Terraform >= {_dotted(minimum)}"
    path = shutil.which(binary)
    if path is None:
        return [Finding(f"{want} ({binary!r} is not on PATH)", f"install it: {TERRAFORM_INSTALL}")]
    raw = _run([path, "version", "-json"])
    try:
        version = _version(json.loads(raw or "")["terraform_version"], r"(\d+\.\d+\.\d+)")
    except (ValueError, KeyError, TypeError):
        version = None
    if version is None or version < minimum:
        seen = _dotted(version) if version else "unknown"
        return [Finding(f"{want} (found {seen} at {path})", f"upgrade it: {TERRAFORM_INSTALL}")]
    return []


def python313_fix(os_release: dict[str, str], uv: str | None) -> str:
    """The one command that gets a Python >= 3.13 on this machine (none of Debian 12's)."""
    if uv:
        return "uv python install 3.13 && export LOCALSTACK_PYTHON=$(uv python find 3.13)"
    if os_release.get("ID") == "ubuntu":
        return (
            "add-apt-repository -y ppa:deadsnakes/ppa && apt-get install -y python3.13 "
            "python3.13-venv"
        )
    return (
        "pyenv install 3.13 (https://github.com/pyenv/pyenv; or python.org's source release); "
        "Debian 12 has no python3.13 package"
    )


def check_localstack_python(settings: HarnessSettings, os_release: dict[str, str]) -> list[Finding]:
    from harness.controlplane import localstack

    try:
        localstack.find_python(settings.localstack_python)
    except PrerequisiteError as exc:
        if settings.localstack_python:
            return [Finding(str(exc), exc.hint)]
        return [
            Finding(
                "a Python >= 3.13 for LocalStack (none on PATH or under pyenv)",
                python313_fix(os_release, shutil.which("uv")),
            )
        ]
    return []


def check_port(settings: HarnessSettings) -> list[Finding]:
    """LocalStack's port is free, or held by the LocalStack this state directory recorded
    (which deploy adopts): its process, or in container mode its running container (whose
    LocalStack, or Docker's port publisher, holds the port)."""
    from harness.controlplane import localstack

    if settings.localstack_endpoint:
        return []
    host, port = settings.localstack_host, settings.localstack_port
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return []
        except OSError:
            pass
    try:
        record = json.loads((settings.state_dir / localstack.RECORD).read_text())
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and "container" in record:
        from harness.controlplane import localstack_container

        if localstack_container.recorded_container_runs(settings, record):
            return []
    else:
        ours = ProcessId.from_record(record)
        if ours is not None and ours.alive():
            return []
    return [
        Finding(
            f"port {host}:{port} for LocalStack is taken by another program",
            f"LOCALSTACK_PORT=<a free port> make deploy (`ss -ltnp 'sport = :{port}'` shows "
            "what holds it)",
        )
    ]


def _cli_config_paths(config: Path) -> list[Path]:
    """``filesystem_mirror``/``plugin_cache_dir`` directories named in a CLI config file."""
    try:
        text = config.read_text()
    except OSError:
        return []
    paths = re.findall(r'(?:path|plugin_cache_dir)\s*=\s*"([^"]+)"', text)
    return [Path(os.path.expanduser(p)) for p in paths]


def provider_sources(env: dict[str, str], data_dir: Path) -> list[Path]:
    """Local places Terraform would take hashicorp/aws from, without the registry."""
    places = [data_dir / "providers"]
    config = env.get("TF_CLI_CONFIG_FILE") or os.path.expanduser("~/.terraformrc")
    places += _cli_config_paths(Path(config))
    if env.get("TF_PLUGIN_CACHE_DIR"):
        places.append(Path(env["TF_PLUGIN_CACHE_DIR"]))
    places += [Path(os.path.expanduser(p)) for p in IMPLIED_MIRRORS]
    return [p for p in places if (p / AWS_PROVIDER).is_dir()]


def registry_reachable(timeout_s: float = 3.0) -> bool:
    try:
        socket.create_connection(REGISTRY, timeout=timeout_s).close()
    except OSError:
        return False
    return True


def check_provider_source(env: dict[str, str], data_dir: Path) -> list[Finding]:
    if provider_sources(env, data_dir) or registry_reachable():
        return []
    config = env.get("TF_CLI_CONFIG_FILE")
    broken = (
        f"; TF_CLI_CONFIG_FILE={config} does not exist"
        if config and not Path(config).is_file()
        else ""
    )
    return [
        Finding(
            "a source for the hashicorp/aws provider (registry.terraform.io does not answer "
            f"and no filesystem mirror or plugin cache has it{broken})",
            "point TF_CLI_CONFIG_FILE at a file with provider_installation { filesystem_mirror "
            '{ path = "<dir>" } }, <dir> made by `terraform providers mirror <dir>` in '
            "terraform/stacks/local on a machine with access",
        )
    ]


# ----------------------------------------------------------------------------- the whole check


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def findings(settings: HarnessSettings, purpose: Purpose) -> list[Finding]:
    """Everything ``purpose`` needs that is missing, checked in parallel (a few seconds)."""
    local = purpose == "test" or settings.stack != "aws"
    container = settings.localstack_mode == "container"
    release = os_release()
    tf_env = {k: v for k, v in os.environ.items() if k.startswith("TF_")}
    data_dir = settings.state_dir / f"terraform-{settings.stack}"
    checks: list[Callable[[], list[Finding]]] = [
        lambda: check_terraform(
            settings.terraform_bin, required_terraform(settings.stack_dir / "versions.tf")
        ),
        lambda: check_provider_source(tf_env, data_dir),
        lambda: check_docker(purpose, container and local),
    ]
    if local:
        checks.append(lambda: system_findings(purpose))
        if purpose == "deploy":
            checks.append(lambda: check_port(settings))
        if not container and not (purpose == "deploy" and settings.localstack_endpoint):
            checks.append(lambda: check_localstack_python(settings, release))
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        results = list(pool.map(lambda check: check(), checks))
    return [finding for result in results for finding in result]


def can_install(release: dict[str, str]) -> bool:
    family = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    return (
        os.geteuid() == 0 and bool(family & {"debian", "ubuntu"}) and bool(shutil.which("apt-get"))
    )


def install(found: Sequence[Finding], out: Callable[[str], None] = print) -> bool:
    """Install the missing Debian packages (root on Debian/Ubuntu only); True if it ran."""
    packages = sorted({f.apt for f in found if f.apt and f.required})
    if not packages or not can_install(os_release()):
        return False
    out(f"preflight: installing missing Debian packages: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PrerequisiteError(
                f"`{' '.join(argv)}` failed:\n{done.stderr.strip()[-2000:]}",
                hint="fix apt (network, sources) and rerun",
            )
    return True


def report(found: Sequence[Finding]) -> str:
    lines = []
    for finding in found:
        label = "missing" if finding.required else "optional"
        lines.append(f"  {label}: {finding.what}\n      fix: {finding.fix}")
    apt = sorted({f.apt for f in found if f.apt and f.required})
    if apt:
        lines.append(f"  all Debian packages at once: {_apt_fix(apt)}")
    return "\n".join(lines)


def require(
    settings: HarnessSettings, purpose: Purpose, out: Callable[[str], None] = print
) -> None:
    """Raise one PrerequisiteError listing everything missing; print the optional ones."""
    found = findings(settings, purpose)
    missing = [f for f in found if f.required]
    optional = [f for f in found if not f.required]
    if optional:
        out("preflight: optional:\n" + report(optional))
    if missing:
        raise PrerequisiteError(
            f"{len(missing)} prerequisite(s) of `{purpose}` missing:\n" + report(missing),
            hint="run the commands above (as root, `python3 -m harness.preflight --install` "
            "installs the Debian packages on Debian/Ubuntu), then rerun",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python3 -m harness.preflight [--for deploy|test] [--install]``, run by make before the
    virtualenv exists: as root on Debian/Ubuntu install the missing Debian packages (saying
    which); elsewhere stay quiet, as the harness reports everything in one list once it runs,
    unless the virtualenv itself cannot be made."""
    parser = argparse.ArgumentParser(prog="python3 -m harness.preflight")
    parser.add_argument("--for", dest="purpose", choices=["deploy", "test"], default="deploy")
    parser.add_argument("--install", action="store_true", help="apt-get install what is missing")
    args = parser.parse_args(argv)
    # The entry point reads STACK itself: the harness settings need the virtualenv.
    aws_only = args.purpose == "deploy" and os.environ.get("STACK", "local") == "aws"

    def missing() -> list[Finding]:
        return ([] if aws_only else system_findings(args.purpose)) + check_venv_module()

    found = missing()
    if args.install and install(found):
        found = missing()
    no_venv = [f for f in found if f.apt == "python3-venv"]
    if no_venv:
        print(
            "preflight: the kit's virtualenv cannot be made:\n" + report(no_venv), file=sys.stderr
        )
    return 1 if no_venv else 0


if __name__ == "__main__":
    sys.exit(main())
