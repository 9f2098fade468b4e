"""Target health: HAProxy's view of every server turned into AWS-shaped target health,
and the report back to the control plane."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from harness.dataplane.haproxy import ServerStatus
from harness.dataplane.planner import DesiredState
from harness.errors import DataPlaneError

HealthReporter = Callable[[str, list[dict[str, Any]]], None]


# --------------------------------------------------------------------------- target health


def target_health(
    desired: DesiredState, statuses: Iterable[ServerStatus]
) -> dict[str, list[dict[str, Any]]]:
    """Per target group, the report for the control plane from HAProxy's check results.

    A target is healthy when any node's check passes; unhealthy when every node that checked
    it failed; not reported while no check has finished yet (it stays ``initial``).
    """
    seen: dict[tuple[str, str, int], list[ServerStatus]] = {}
    for status in statuses:
        ref = desired.node_targets.get(status.proxy, {}).get(status.server)
        if ref is not None and status.checked:
            seen.setdefault((ref.target_group_arn, ref.instance_id, ref.port), []).append(status)
    report: dict[str, list[dict[str, Any]]] = {}
    for (arn, instance_id, port), results in sorted(seen.items()):
        entry: dict[str, Any] = {"id": instance_id, "port": port}
        if any(r.up for r in results):
            entry["state"] = "healthy"
        else:
            entry.update(
                state="unhealthy",
                reason="Target.FailedHealthChecks",
                description=f"Health checks failed ({results[0].check_status})",
            )
        report.setdefault(arn, []).append(entry)
    for arn, items in desired.invalid_targets.items():
        for instance_id, port, reason, description in items:
            report.setdefault(arn, []).append(
                {
                    "id": instance_id,
                    "port": port,
                    "state": "unhealthy",
                    "reason": reason,
                    "description": description,
                }
            )
    return report


def node_health(desired: DesiredState, statuses: Iterable[ServerStatus]) -> dict[str, bool]:
    """NLB node namespace -> whether any target behind it is up (for DNS)."""
    proxy_ns = {p.name: p.bind_namespace for p in desired.proxies if p.name in desired.node_targets}
    result = {ns: False for ns in proxy_ns.values()}
    for status in statuses:
        ns = proxy_ns.get(status.proxy)
        if ns is not None and status.up:
            result[ns] = True
    return result


def health_view(statuses: Iterable[ServerStatus]) -> dict[tuple[str, str], tuple[bool, bool]]:
    """What a pass takes from HAProxy's checks: (proxy, server) -> (up, checked)."""
    return {(s.proxy, s.server): (s.up, s.checked) for s in statuses}


def health_settling(statuses: Iterable[ServerStatus]) -> bool:
    """Whether a coming check result will change what ``statuses`` say: a target still in its
    first checks, or one counting passes or failures towards a change ("DOWN 1/2", "UP 1/2").
    A target that stays up, or stays down, changes nothing until something happens to it."""
    return any((s.initial and not s.checked) or "/" in s.status for s in statuses)


def health_moved(
    seen: dict[tuple[str, str], tuple[bool, bool]], now: Iterable[ServerStatus]
) -> bool:
    """Whether a server in both ``seen`` and ``now`` changed (up, checked); servers added or
    removed since are the reconciler's doing, not a check's."""
    current = health_view(now)
    return any(key in current and current[key] != view for key, view in seen.items())


def http_reporter(localstack_url: str) -> HealthReporter:
    """POST target health to the control plane's ``/_jerp/target-health``."""
    url = localstack_url.rstrip("/") + "/_jerp/target-health"

    def report(target_group_arn: str, targets: list[dict[str, Any]]) -> None:
        body = json.dumps({"target_group_arn": target_group_arn, "targets": targets}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise DataPlaneError(
                f"could not report target health to {url}: {exc}",
                hint="is LocalStack running with the JERP PrivateLink plug-in?",
            ) from exc

    return report
