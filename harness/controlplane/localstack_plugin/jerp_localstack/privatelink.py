"""PrivateLink across accounts: finding services and connections, who may use a service, and
the endpoint service configuration in the shape AWS answers with.

LocalStack keeps one moto EC2 backend per (account, region) and derives the account from the
access key (a 12-digit key is the account id). On AWS an endpoint service in account A is
visible to the principals it allows in other accounts, so every lookup here goes through all
accounts' backends of the region instead of the caller's own.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from moto.ec2.models import ec2_backends

from jerp_localstack import changes, ids

# Endpoint states in which an endpoint still holds on to its service.
LIVE_ENDPOINT_STATES = {"pendingAcceptance", "pending", "available"}

# How long an accepted (or auto-accepted) endpoint shows ``pending`` before ``available``.
# The provider's auto_accept waiter first polls 5 s after the accept and accepts only
# ``pendingAcceptance`` -> ``available``; ``pending`` must be over by then.
PENDING_S = 2.0

# Held while an endpoint is created and while endpoints are described: moto files a new
# endpoint as `available` under its own id before the plug-in gives it its AWS id and state
# (`pendingAcceptance`), and a describe in between saw a pending endpoint as available (the
# data plane then served it for one pass).
ENDPOINT_CREATION = threading.Lock()

# Private DNS name verification states (EC2 API: PrivateDnsNameConfiguration.State).
PENDING_VERIFICATION = "pendingVerification"
VERIFIED = "verified"
FAILED = "failed"


def backends(region: str) -> Iterator[Any]:
    """Every account's EC2 backend for ``region`` that exists (nothing is created)."""
    for account_backends in list(ec2_backends.values()):
        if region in account_backends:
            yield account_backends[region]


def find_service(region: str, service_name: str) -> Any | None:
    for backend in backends(region):
        for config in list(backend.configurations.values()):
            if config.service_name == service_name:
                return config
    return None


def owner_of(service: Any) -> str:
    return str(service.ec2_backend.account_id)


def connections(service: Any) -> list[Any]:
    """Interface endpoints to ``service`` in any account (deleted ones included)."""
    region = service.ec2_backend.region_name
    return [
        ep
        for backend in backends(region)
        for ep in list(backend.vpc_end_points.values())
        if ep.service_name == service.service_name
    ]


def principal_allows(principal: str, account_id: str) -> bool:
    """Whether an allowed-principal entry lets ``account_id`` use the service.

    LocalStack authenticates an account, not a user or role, so a user or role ARN counts for
    the account it belongs to.
    """
    if principal == "*":
        return True
    parts = principal.split(":")
    return len(parts) >= 6 and parts[2] == "iam" and parts[4] == account_id


def may_use(service: Any, account_id: str) -> bool:
    if owner_of(service) == account_id:
        return True
    return any(principal_allows(p, account_id) for p in service.principals)


def principal_type(principal: str) -> str:
    if principal == "*":
        return "All"
    if ":role/" in principal:
        return "Role"
    if ":user/" in principal:
        return "User"
    return "Account"


def is_full_access_policy(document: str | None) -> bool:
    """The default policy (allow everything to everyone): what a custom service implies."""
    if not document:
        return True
    try:
        policy = json.loads(document)
    except ValueError:
        return False
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or len(statements) != 1:
        return False
    statement = statements[0]

    def everything(value: Any) -> bool:
        return value == "*" or value == ["*"] or value == {"AWS": "*"} or value == {"AWS": ["*"]}

    return (
        statement.get("Effect") == "Allow"
        and everything(statement.get("Principal"))
        and everything(statement.get("Action"))
        and everything(statement.get("Resource"))
        and not statement.get("Condition")
    )


# --------------------------------------------------------------------------- ENI addresses

_chosen = threading.local()


@contextlib.contextmanager
def chosen_addresses(by_subnet: dict[str, str]) -> Iterator[None]:
    """ENI addresses a request picked per subnet, for ENIs created while the block runs (moto
    runs the request in this thread)."""
    _chosen.by_subnet = by_subnet
    try:
        yield
    finally:
        _chosen.by_subnet = {}


def chosen_address(subnet_id: str) -> str | None:
    by_subnet: dict[str, str] = getattr(_chosen, "by_subnet", {})
    return by_subnet.get(subnet_id)


# --------------------------------------------------------------------------- endpoint states


def settle_after(endpoint: Any, delay_s: float = PENDING_S) -> None:
    """``pending`` now, ``available`` ``delay_s`` later (unless something else moved it)."""
    endpoint.state = "pending"

    def settle() -> None:
        if endpoint.state == "pending":
            endpoint.state = "available"
            # Not an API call, so the change notice is told here.
            changes.bump("VpcEndpointAvailable")

    timer = threading.Timer(delay_s, settle)
    timer.daemon = True
    timer.start()


# --------------------------------------------------------------------------- private DNS


def set_private_dns_name(service: Any, name: str | None) -> None:
    """A new name starts unverified with a fresh TXT record to publish (as on AWS)."""
    service.private_dns_name = name or None
    if not name:
        service.jerp_dns_verification = None
        return
    service.jerp_dns_verification = {
        "Name": f"_{ids.random_label(10)}",
        "Value": f"vpce:{ids.random_label(20)}",
        "Type": "TXT",
        "State": PENDING_VERIFICATION,
    }


def dns_verification(service: Any) -> dict[str, str] | None:
    config: dict[str, str] | None = getattr(service, "jerp_dns_verification", None)
    return config


def private_dns_state(service: Any) -> str | None:
    config = dns_verification(service)
    return config["State"] if config else None


def private_dns_entry(endpoint: Any) -> dict[str, str] | None:
    """The ``DnsEntries`` item of an endpoint's private DNS name, or None.

    PL/manage-dns-names.html: with private DNS enabled, AWS creates a private hosted zone for
    the consumer VPC that maps the service's private name to the endpoint; the endpoint lists
    that name (with the private hosted zone's id) after its own regional and zonal names, as
    it lists an AWS service's name. Consumers can use the name only once it is verified.
    """
    if not endpoint.private_dns_enabled:
        return None
    service = find_service(endpoint.ec2_backend.region_name, endpoint.service_name)
    if service is None or not service.private_dns_name or private_dns_state(service) != VERIFIED:
        return None
    zone_id: str | None = getattr(endpoint, "jerp_private_zone_id", None)
    if zone_id is None:
        zone_id = endpoint.jerp_private_zone_id = "Z" + ids.hex_id(20).upper()
    return {"DnsName": service.private_dns_name, "HostedZoneId": zone_id}


# --------------------------------------------------------------------------- responses


def service_configuration(service: Any) -> dict[str, Any]:
    """A ``ServiceConfiguration`` as AWS returns it: no ``PrivateDnsName`` keys without a name."""
    result: dict[str, Any] = {
        "ServiceType": [{"ServiceType": service.service_type}],
        "ServiceId": service.id,
        "ServiceName": service.service_name,
        "ServiceState": service.service_state,
        "AvailabilityZones": list(service.availability_zones),
        "AcceptanceRequired": bool(service.acceptance_required),
        "ManagesVpcEndpoints": bool(service.manages_vpc_endpoints),
        "NetworkLoadBalancerArns": list(service.network_load_balancer_arns),
        "GatewayLoadBalancerArns": list(service.gateway_load_balancer_arns),
        "SupportedIpAddressTypes": ["ipv4"],
        "BaseEndpointDnsNames": [service.endpoint_dns_name],
        "PayerResponsibility": "ServiceOwner",
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in service.get_tags()],
    }
    if service.private_dns_name:
        result["PrivateDnsName"] = service.private_dns_name
        verification = dns_verification(service)
        if verification:
            result["PrivateDnsNameConfiguration"] = dict(verification)
    return result


def service_detail(service: Any) -> dict[str, Any]:
    """A ``ServiceDetail`` (DescribeVpcEndpointServices) for a custom service."""
    detail: dict[str, Any] = {
        "ServiceName": service.service_name,
        "ServiceId": service.id,
        "ServiceType": [{"ServiceType": service.service_type}],
        "AvailabilityZones": list(service.availability_zones),
        "Owner": owner_of(service),
        "BaseEndpointDnsNames": [service.endpoint_dns_name],
        "VpcEndpointPolicySupported": False,
        "AcceptanceRequired": bool(service.acceptance_required),
        "ManagesVpcEndpoints": bool(service.manages_vpc_endpoints),
        "SupportedIpAddressTypes": ["ipv4"],
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in service.get_tags()],
    }
    if service.private_dns_name:
        detail["PrivateDnsName"] = service.private_dns_name
        detail["PrivateDnsNames"] = [{"PrivateDnsName": service.private_dns_name}]
        detail["PrivateDnsNameVerificationState"] = private_dns_state(service)
    return detail
