"""boto3 clients for the control plane: LocalStack's endpoint or a real account."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
# STACK=local-cross-account: service account A, consumer account B. LocalStack takes a 12-digit
# access key as the account id; the stack gets these as service_account_id/consumer_account_id.
CROSS_ACCOUNT_IDS = ("111111111111", "222222222222")


@dataclass(frozen=True)
class AwsClients:
    """Makes clients for one control plane; nothing is created at import time."""

    region: str
    endpoint_url: str | None = None
    access_key: str = LOCAL_KEY  # LocalStack: the account ("test" is 000000000000)
    other_accounts: tuple[str, ...] = ()  # LocalStack: further accounts the stack spans

    @classmethod
    def from_settings(cls, settings: HarnessSettings) -> AwsClients:
        if settings.stack == "local-cross-account":
            service, *consumers = CROSS_ACCOUNT_IDS
            return cls(settings.region, settings.localstack_url, service, tuple(consumers))
        if settings.local_cloud:
            return cls(region=settings.region, endpoint_url=settings.localstack_url)
        return cls(region=settings.region)

    def accounts(self) -> tuple[AwsClients, ...]:
        """Clients for every account the stack spans, this one first."""
        others = (replace(self, access_key=key, other_accounts=()) for key in self.other_accounts)
        return (self, *others)

    def _session(self) -> boto3.session.Session:
        if self.endpoint_url:
            return boto3.session.Session(
                aws_access_key_id=self.access_key,
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
