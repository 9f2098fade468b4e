"""boto3 clients for the control plane: LocalStack's endpoint or a real account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from harness.settings import HarnessSettings

# LocalStack accepts any credentials; these are its documented test values.
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@dataclass(frozen=True)
class AwsClients:
    """Makes clients for one control plane; nothing is created at import time."""

    region: str
    endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: HarnessSettings) -> AwsClients:
        if settings.stack == "local":
            return cls(region=settings.region, endpoint_url=settings.localstack_url)
        return cls(region=settings.region)

    def client(self, service: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs.update(endpoint_url=self.endpoint_url, **LOCAL_CREDENTIALS)
        return boto3.session.Session().client(service, **kwargs)  # type: ignore[call-overload]
