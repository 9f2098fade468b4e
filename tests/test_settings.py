"""Harness settings: defaults, environment, and errors that name the fix."""

from __future__ import annotations

import pytest

from harness.errors import SettingsError
from harness.settings import load_settings


def test_defaults_point_at_local_stack_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STACK", "AWS_REGION", "LOCALSTACK_ENDPOINT", "LOCALSTACK_PORT"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.stack == "local"
    assert settings.localstack_url == "http://127.0.0.1:4566"
    assert settings.region == "ap-northeast-2"
    assert settings.stack_dir.name == "local"


def test_existing_localstack_endpoint_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4599/")
    assert load_settings().localstack_url == "http://127.0.0.1:4599"


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("STACK", "gcp", "STACK"),
        ("AWS_REGION", "seoul", "AWS_REGION"),
        ("LOCALSTACK_PORT", "70000", "LOCALSTACK_PORT"),
        ("HARNESS_ENV_PREFIX", "JP-1", "HARNESS_ENV_PREFIX"),
    ],
)
def test_bad_setting_names_variable_and_fix(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, named: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert named in str(info.value)
    assert info.value.hint
