"""JERP settings: defaults, invalid JERP_* variables named, and `python -m jerp` exiting 2.

(Named test_jerp_settings.py, not test_settings.py: tests/unit/test_settings.py exists and
both directories are rootdir-style test dirs without __init__.py, so the basenames would clash.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jerp.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in list(os.environ):
        if var.startswith("JERP_"):
            monkeypatch.delenv(var)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.instance_id == socket.gethostname()
    assert settings.log_level == "info"
    assert settings.access_log is True
    assert settings.max_name_length == 64
    assert settings.graceful_timeout == 30.0
    assert settings.workers == 1


def test_environment_is_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JERP_PORT", "9090")
    clean_env.setenv("JERP_INSTANCE_ID", "i-0abc")
    clean_env.setenv("JERP_ACCESS_LOG", "false")
    clean_env.setenv("JERP_WORKERS", "4")
    settings = load_settings()
    assert (settings.port, settings.instance_id, settings.access_log, settings.workers) == (
        9090,
        "i-0abc",
        False,
        4,
    )


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("JERP_PORT", "0"),
        ("JERP_PORT", "70000"),
        ("JERP_LOG_LEVEL", "loud"),
        ("JERP_MAX_NAME_LENGTH", "0"),
        ("JERP_GRACEFUL_TIMEOUT", "-1"),
        ("JERP_INSTANCE_ID", ""),
        ("JERP_WORKERS", "0"),
        ("JERP_WORKERS", "-2"),
        ("JERP_WORKERS", "two"),
        ("JERP_WORKERS", "1.5"),
    ],
)
def test_bad_setting_names_variable(clean_env: pytest.MonkeyPatch, var: str, value: str) -> None:
    clean_env.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert var in str(info.value)


def test_settings_are_frozen() -> None:
    settings = Settings(instance_id="i-x")
    with pytest.raises(ValueError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("var", "value"), [("JERP_PORT", "0"), ("JERP_LOG_LEVEL", "loud"), ("JERP_WORKERS", "0")]
)
def test_module_exits_2_with_message(var: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JERP_")}
    env[var] = value
    proc = subprocess.run(
        [sys.executable, "-m", "jerp"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert var in proc.stderr
    assert proc.stderr.startswith("jerp: invalid JERP setting")
    assert proc.stdout == ""
