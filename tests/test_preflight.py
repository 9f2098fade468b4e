"""Preflight: every missing prerequisite reported at once, quickly, each with its fix; Debian
packages installed only as root on Debian/Ubuntu; runnable before the virtualenv exists."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import preflight
from harness.controlplane import localstack
from harness.errors import PrerequisiteError
from harness.processes import ProcessId
from harness.settings import REPO_ROOT, HarnessSettings, load_settings

HAPROXY_26 = "HAProxy version 2.6.12-1+deb12u4 2026/10/17\nBuilt with network namespace support.\n"


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _settings(tmp_path: Path, **extra: object) -> HarnessSettings:
    return load_settings(
        STACK="local", LOCALSTACK_ENDPOINT=None, HARNESS_STATE_DIR=str(tmp_path / "state"), **extra
    )


def test_missing_tools_name_their_debian_package() -> None:
    found = preflight.check_tools({"nft": "nftables", "dig": "dnsutils"}, which=lambda _: None)
    assert [(f.what, f.fix, f.apt) for f in found] == [
        ("nft is not installed", "apt-get install -y nftables", "nftables"),
        ("dig is not installed", "apt-get install -y dnsutils", "dnsutils"),
    ]


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("HA-Proxy version 2.4.22 2023/02/14\nBuilt with network namespace support.\n", "2.4"),
        ("HAProxy version 2.8.5 2024/01/01\n", "network namespace support"),
        (HAPROXY_26, None),
    ],
)
def test_haproxy_needs_2_6_with_namespace_support(output: str, problem: str | None) -> None:
    found = preflight.check_haproxy(output)
    if problem is None:
        assert found == []
    else:
        (finding,) = found
        assert problem in finding.what and finding.apt == "haproxy"


def test_terraform_version_is_checked_against_the_stacks_requirement(tmp_path: Path) -> None:
    versions = tmp_path / "versions.tf"
    versions.write_text('terraform {\n  required_version = ">= 1.9"\n}\n')
    assert preflight.required_terraform(versions) == (1, 9)
    assert preflight.required_terraform(tmp_path / "none.tf") == (1, 5)
    old = _script(tmp_path / "tf-old", """echo '{"terraform_version": "1.6.2"}'\n""")
    new = _script(tmp_path / "tf-new", """echo '{"terraform_version": "1.11.4"}'\n""")
    (finding,) = preflight.check_terraform(old, (1, 9))
    assert "Terraform >= 1.9 (found 1.6.2" in finding.what
    assert preflight.check_terraform(new, (1, 9)) == []
    (absent,) = preflight.check_terraform(str(tmp_path / "nope"), (1, 5))
    assert "not on PATH" in absent.what and "terraform/install" in absent.fix


def test_python_313_fix_fits_the_machine() -> None:
    assert preflight.python313_fix({"ID": "debian"}, "/usr/bin/uv").startswith(
        "uv python install 3.13"
    )
    assert "deadsnakes" in preflight.python313_fix({"ID": "ubuntu"}, None)
    debian = preflight.python313_fix({"ID": "debian", "VERSION_ID": "12"}, None)
    assert "pyenv install 3.13" in debian and "Debian 12 has no python3.13" in debian


def test_taken_localstack_port_is_reported_unless_our_recorded_localstack_holds_it(
    tmp_path: Path,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        settings = _settings(tmp_path, LOCALSTACK_PORT=port)
        (finding,) = preflight.check_port(settings)
        assert f"127.0.0.1:{port}" in finding.what and "LOCALSTACK_PORT" in finding.fix
        # The LocalStack this state directory recorded (here: this live process) is adopted.
        settings.state_dir.mkdir(parents=True)
        (settings.state_dir / localstack.RECORD).write_text(json.dumps(ProcessId.self().record()))
        assert preflight.check_port(settings) == []


def test_taken_port_with_a_recorded_container_whose_engine_is_gone_is_reported(
    tmp_path: Path,
) -> None:
    """A container record only excuses the port while that container runs (the positive case,
    a running container, is tests/e2e/test_recovery.py in container mode)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        settings = _settings(tmp_path, LOCALSTACK_PORT=port)
        settings.state_dir.mkdir(parents=True)
        record = {"container": "0" * 64, "docker_host": f"unix://{tmp_path}/gone.sock"}
        (settings.state_dir / localstack.RECORD).write_text(json.dumps(record))
        (finding,) = preflight.check_port(settings)
    assert f"127.0.0.1:{port}" in finding.what


def test_provider_from_a_filesystem_mirror_named_by_the_cli_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "registry_reachable", lambda: False)
    mirror = tmp_path / "mirror"
    (mirror / preflight.AWS_PROVIDER).mkdir(parents=True)
    config = tmp_path / "terraformrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n')
    env = {"TF_CLI_CONFIG_FILE": str(config)}
    assert preflight.check_provider_source(env, tmp_path / "data") == []
    (finding,) = preflight.check_provider_source(
        {"TF_CLI_CONFIG_FILE": str(tmp_path / "gone")}, tmp_path / "data"
    )
    assert "hashicorp/aws" in finding.what and "gone does not exist" in finding.what
    assert "filesystem_mirror" in finding.fix


def test_everything_missing_is_reported_at_once_within_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "registry_reachable", lambda: False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "no-terraformrc"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        settings = _settings(
            tmp_path,
            LOCALSTACK_PORT=int(busy.getsockname()[1]),
            LOCALSTACK_PYTHON=str(tmp_path / "no-python"),
            TERRAFORM="terraform",
        )
        started = time.monotonic()
        with pytest.raises(PrerequisiteError) as info:
            preflight.require(settings, "deploy", out=lambda _: None)
        elapsed = time.monotonic() - started
    assert elapsed < 10
    message = str(info.value)
    for expected in (
        "nft is not installed",
        "haproxy is not installed",
        "dnsmasq is not installed",
        "Terraform >= ",
        "LOCALSTACK_PYTHON=",
        "hashicorp/aws",
        "for LocalStack is taken",
    ):
        assert expected in message
    assert (
        "all Debian packages at once: apt-get install -y curl dnsmasq-base dnsutils haproxy "
        "iproute2 nftables" in message
    )


def test_install_runs_apt_only_as_root_on_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(shutil, "which", lambda _: "/usr/bin/apt-get")
    found = [
        preflight.Finding("nft is not installed", "", apt="nftables"),
        preflight.Finding("Terraform >= 1.9", "install it"),
    ]
    said: list[str] = []
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(preflight, "os_release", lambda: {"ID": "debian"})
    assert preflight.install(found, out=said.append) is False and calls == []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight, "os_release", lambda: {"ID": "fedora"})
    assert preflight.install(found, out=said.append) is False and calls == []
    monkeypatch.setattr(preflight, "os_release", lambda: {"ID": "linuxmint", "ID_LIKE": "ubuntu"})
    assert preflight.install(found, out=said.append) is True
    assert calls[-1][:3] == ["apt-get", "install", "-y"] and calls[-1][-1] == "nftables"
    assert said == ["preflight: installing missing Debian packages: nftables"]


def test_runs_with_the_standard_library_only_before_the_virtualenv_exists() -> None:
    # -S: no site-packages at all, as with a system python3 before `make venv`.
    done = subprocess.run(
        [sys.executable, "-S", "-m", "harness.preflight", "--for", "deploy"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0


def test_cli_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "preflight", "--for", "deploy"],
        cwd=REPO_ROOT,
        env={
            "PATH": str(tmp_path),
            "HARNESS_STATE_DIR": str(tmp_path / "state"),
            "TERRAFORM": "terraform",
            "TF_CLI_CONFIG_FILE": str(tmp_path / "none"),
            "LOCALSTACK_PYTHON": str(tmp_path / "none"),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "prerequisite(s) of `deploy` missing" in done.stderr
    assert (
        "nft is not installed" in done.stderr and "fix: apt-get install -y nftables" in done.stderr
    )
