"""The compose files and image definitions, checked without an engine (unit speed)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from harness.errors import PrerequisiteError, SettingsError
from harness.packaging.devenv import COMPOSE_FILE, HOST_NETWORK_FILE, compose_command
from harness.packaging.images import JERP_BASE, TRIXIE_BASE, DebianBase
from harness.settings import REPO_ROOT, load_settings


def _config(*files: str, env: dict[str, str] | None = None) -> dict[str, object]:
    try:
        command = compose_command()
    except PrerequisiteError as exc:
        pytest.skip(f"{exc} (apt-get install docker-compose to run this test)")
    # compose validates that the build context exists; `make dev` fills it.
    (REPO_ROOT / ".harness" / "docker-context").mkdir(parents=True, exist_ok=True)
    argv = [*command]
    for path in files:
        argv += ["-f", path]
    result = subprocess.run([*argv, "config"], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    config: dict[str, object] = yaml.safe_load(result.stdout)
    return config


def test_host_network_override_puts_every_service_on_loopback() -> None:
    config = _config(str(HOST_NETWORK_FILE))
    services = config["services"]
    assert isinstance(services, dict)
    assert {name: s.get("network_mode") for name, s in services.items()} == {
        "jerp-1": "host",
        "jerp-2": "host",
        "nlb": "host",
    }
    assert services["jerp-1"]["environment"]["UVICORN_HOST"] == "127.0.0.1"
    assert services["nlb"]["environment"]["JERP_2"] == "127.0.0.1:8082"
    assert services["nlb"]["environment"]["NLB_BIND"] == "127.0.0.1:8080"


def test_base_images_are_build_arguments_with_registry_defaults() -> None:
    services = _config(str(COMPOSE_FILE))["services"]
    assert isinstance(services, dict)
    assert services["jerp-1"]["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    assert services["nlb"]["build"]["args"]["BASE_IMAGE"] == "debian:bookworm-slim"


def test_debootstrap_base_tags_change_with_their_package_set() -> None:
    assert JERP_BASE.tag.startswith("jerp-base:bookworm-")
    assert TRIXIE_BASE.tag.startswith("jerp-trixie-base:trixie-")
    more = DebianBase(JERP_BASE.name, JERP_BASE.suite, (*JERP_BASE.packages, "curl"))
    assert more.tag != JERP_BASE.tag
    # Order does not matter: the same set is the same (cached) image.
    same = DebianBase(JERP_BASE.name, JERP_BASE.suite, tuple(reversed(JERP_BASE.packages)))
    assert same.tag == JERP_BASE.tag


def test_localstack_mode_is_validated_with_its_variable_named() -> None:
    with pytest.raises(SettingsError, match="LOCALSTACK_MODE"):
        load_settings(LOCALSTACK_MODE="docker")
