"""boto3 clients for the control plane: LocalStack's endpoint or a real account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

from harness.settings import HarnessSettings

if TYPE_CHECKING:
    # boto3-stubs (a dev dependency) types the clients; nothing needs them at run time.
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

# LocalStack accepts any credentials; "test" is its documented value for both.
LOCAL_KEY = "test"


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

    def _session(self) -> boto3.session.Session:
        if self.endpoint_url:
            return boto3.session.Session(
                aws_access_key_id=LOCAL_KEY,
                aws_secret_access_key=LOCAL_KEY,
                region_name=self.region,
            )
        return boto3.session.Session(region_name=self.region)

    def ec2(self) -> EC2Client:
        return self._session().client("ec2", endpoint_url=self.endpoint_url)

    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self._session().client("elbv2", endpoint_url=self.endpoint_url)

    def ssm(self) -> SSMClient:
        return self._session().client("ssm", endpoint_url=self.endpoint_url)

    def sts(self) -> STSClient:
        return self._session().client("sts", endpoint_url=self.endpoint_url)
