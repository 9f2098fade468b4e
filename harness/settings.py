"""Harness settings: read once from the environment, validated, then passed down.

Nothing below the CLI reads ``os.environ``; it receives a :class:`HarnessSettings`.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.errors import SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent
# The kit's version has one source, pyproject.toml, read through the installed metadata.
VERSION = version("jerp-privatelink")

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class HarnessSettings(BaseSettings):
    """Every knob of the harness, one environment variable each (names in the README)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # local-cross-account: the local stack with the service in one LocalStack account and the
    # endpoint in another (terraform/stacks/local-cross-account).
    stack: Literal["local", "local-cross-account", "aws"] = Field("local", alias="STACK")
    region: str = Field("ap-northeast-2", alias="AWS_REGION")
    localstack_endpoint: str | None = Field(
        None,
        alias="LOCALSTACK_ENDPOINT",
        description="use this running LocalStack instead of starting one",
    )
    localstack_host: str = Field("127.0.0.1", alias="LOCALSTACK_HOST")
    localstack_port: int = Field(4566, alias="LOCALSTACK_PORT", ge=1, le=65535)
    localstack_python: str | None = Field(
        None,
        alias="LOCALSTACK_PYTHON",
        description="a Python >= 3.13 to build LocalStack's own virtualenv with",
    )
    localstack_venv: Path | None = Field(
        None,
        alias="LOCALSTACK_VENV",
        description="LocalStack virtualenv (default .venv-localstack)",
    )
    localstack_mode: Literal["host", "container"] = Field(
        "host",
        alias="LOCALSTACK_MODE",
        description="host: a process from PyPI (no Docker, no token); container: the image "
        "LOCALSTACK_IMAGE through testcontainers",
    )
    localstack_image: str = Field(
        "jerp-localstack:latest",
        alias="LOCALSTACK_IMAGE",
        description="container mode: LocalStack with the plug-in (docker/localstack.Dockerfile)",
    )
    localstack_version: Literal["2026.3.0", "4.14.0"] = Field(
        "2026.3.0",
        alias="LOCALSTACK_VERSION",
        description="host mode: the localstack-core release the plug-in runs on",
    )
    state_dir: Path = Field(REPO_ROOT / ".harness", alias="HARNESS_STATE_DIR")
    env_prefix: str = Field(
        "jp",
        alias="HARNESS_ENV_PREFIX",
        pattern=r"^[a-z]{1,3}$",
        description="first letters of the data plane's environment id, which starts every "
        "namespace name it creates (1-3 lowercase letters)",
    )
    terraform_bin: str = Field("terraform", alias="TERRAFORM")

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name such as ap-northeast-2")
        return value

    @property
    def localstack_url(self) -> str:
        if self.localstack_endpoint:
            return self.localstack_endpoint.rstrip("/")
        return f"http://{self.localstack_host}:{self.localstack_port}"

    @property
    def local_cloud(self) -> bool:
        """LocalStack and the local data plane (every stack but ``aws``)."""
        return self.stack != "aws"

    @property
    def stack_dir(self) -> Path:
        return REPO_ROOT / "terraform" / "stacks" / self.stack


def load_settings(**overrides: object) -> HarnessSettings:
    """Read the environment once; turn a validation failure into a :class:`SettingsError`."""
    try:
        return HarnessSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(
            f"invalid harness setting: {problems}",
            hint="fix the environment variable named above (see README, 'Configuration')",
        ) from exc
