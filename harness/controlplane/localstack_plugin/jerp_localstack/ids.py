"""Identifiers and DNS names in the shapes AWS gives them."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_lowercase + string.digits


def hex_id(length: int) -> str:
    return secrets.token_hex((length + 1) // 2)[:length]


def random_label(length: int) -> str:
    """Lower-case letters and digits, as AWS's generated DNS labels and tokens."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def service_id() -> str:
    return f"vpce-svc-{hex_id(17)}"


def endpoint_id() -> str:
    return f"vpce-{hex_id(17)}"


def permission_id() -> str:
    return f"vpce-svc-perm-{hex_id(17)}"


def endpoint_dns_entries(
    endpoint: str, service: str, region: str, zones: list[str]
) -> list[dict[str, str]]:
    """Regional, then zonal names.

    ``vpce-<17 hex>-<8>[-<az>].vpce-svc-<17 hex>.<region>.vpce.amazonaws.com``
    """
    suffix = random_label(8)
    base = f"{service}.{region}.vpce.amazonaws.com"
    zone_id = "Z" + hex_id(12).upper()
    entries = [{"dns_name": f"{endpoint}-{suffix}.{base}", "hosted_zone_id": zone_id}]
    entries += [
        {"dns_name": f"{endpoint}-{suffix}-{az}.{base}", "hosted_zone_id": zone_id} for az in zones
    ]
    return entries


def nlb_dns_name(name: str, region: str) -> str:
    return f"{name}-{hex_id(16)}.elb.{region}.amazonaws.com"
