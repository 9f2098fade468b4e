"""JERP's settings: environment variables, read once at start into one typed object."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A JERP_* environment variable is invalid; the message names it and the fix."""


class Settings(BaseSettings):
    """Every knob of JERP (README, 'JERP settings')."""

    model_config = SettingsConfigDict(env_prefix="JERP_", extra="ignore", frozen=True)

    host: str = Field("0.0.0.0", description="address to listen on")
    port: int = Field(8080, ge=1, le=65535, description="TCP port to listen on")
    instance_id: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=255,
        description="sent in X-Served-By; the EC2 instance id on AWS",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    access_log: bool = Field(True, description="one JSON line per request on stdout")
    max_name_length: int = Field(64, ge=1, le=1024, description="longest accepted name")
    graceful_timeout: float = Field(
        30.0, gt=0, le=3600, description="seconds in-flight requests get after SIGTERM"
    )
    workers: int = Field(
        1, ge=1, description="uvicorn worker processes; the instance's vCPU count on EC2"
    )
    proxy_protocol: Literal["off", "v2"] = Field(
        "off",
        description="v2: every connection starts with a PROXY v2 header (a target group with "
        "proxy_protocol_v2.enabled); the client address and endpoint id come from it",
    )


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"JERP_{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(
            f"invalid JERP setting: {problems} (fix the environment variable named above)"
        ) from exc
