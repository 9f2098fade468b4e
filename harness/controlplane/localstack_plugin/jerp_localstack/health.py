"""Target health reported by the local data plane, served back by DescribeTargetHealth.

``POST /_jerp/target-health`` with JSON::

    {"target_group_arn": "arn:...:targetgroup/...",
     "targets": [{"id": "i-...", "port": 8080, "checks": [true, true, false],
                  "description": "..."}]}

answers ``{"updated": <n>}``. ``checks`` are raw health-check results, oldest first, since the
last report; the plug-in counts them the way the ELB does (see :func:`fold`): a target is
``initial`` until ``HealthyThresholdCount`` consecutive passes make it ``healthy`` (or
``UnhealthyThresholdCount`` consecutive failures make it ``unhealthy``), and flips again only
after that many consecutive results the other way. A ``description`` on an item is kept as
the failure description (e.g. HAProxy's check status).

An item may instead carry a verdict, ``"state": "healthy" | "unhealthy" | ...`` with optional
``reason``/``description``; it is served back as it is (for a reporter that already applies
the thresholds itself).

Registered targets nobody reported on show ``initial`` / ``Elb.RegistrationInProgress``, as on
AWS before the first health checks complete. Registering a target again starts it over.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field

from localstack.http import Request, Response
from localstack.runtime import hooks

ROUTE = "/_jerp/target-health"
STATES = {"initial", "healthy", "unhealthy", "unused", "draining", "unavailable"}
# Enough results to decide with any threshold AWS allows (2-10).
HISTORY = 64

FAILED_REASON = "Target.FailedHealthChecks"
FAILED_DESCRIPTION = "Health checks failed"


@dataclass(frozen=True)
class Report:
    state: str
    reason: str | None
    description: str | None


@dataclass
class _Target:
    verdict: Report | None = None
    checks: deque[bool] = field(default_factory=lambda: deque(maxlen=HISTORY))
    failure: str | None = None


_lock = threading.Lock()
_targets: dict[tuple[str, str, int], _Target] = {}


def fold(checks: list[bool], healthy_threshold: int, unhealthy_threshold: int) -> Report:
    """The target's health after ``checks`` (oldest first), starting from ``initial``."""
    state, passes, failures = "initial", 0, 0
    for passed in checks:
        if passed:
            passes, failures = passes + 1, 0
            if state != "healthy" and passes >= healthy_threshold:
                state = "healthy"
        else:
            passes, failures = 0, failures + 1
            if state != "unhealthy" and failures >= unhealthy_threshold:
                state = "unhealthy"
    if state == "healthy":
        return Report("healthy", None, None)
    if state == "unhealthy":
        return Report("unhealthy", FAILED_REASON, FAILED_DESCRIPTION)
    if not checks:
        return Report("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    return Report("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")


def reported(
    target_group_arn: str,
    target_id: str,
    port: int,
    healthy_threshold: int,
    unhealthy_threshold: int,
) -> Report | None:
    """What the data plane's reports say about a target, or None when there are none."""
    with _lock:
        target = _targets.get((target_group_arn, target_id, int(port)))
        if target is None:
            return None
        if target.verdict is not None:
            return target.verdict
        checks, failure = list(target.checks), target.failure
    report = fold(checks, healthy_threshold, unhealthy_threshold)
    if report.state == "unhealthy" and failure:
        return Report(report.state, report.reason, failure)
    return report


def forget_target(target_group_arn: str, target_id: str) -> None:
    with _lock:
        for key in [k for k in _targets if k[0] == target_group_arn and k[1] == target_id]:
            del _targets[key]


def _bad(message: str) -> Response:
    return Response(json.dumps({"error": message}), 400, mimetype="application/json")


def handle_report(request: Request) -> Response:
    try:
        body = json.loads(request.get_data() or b"{}")
        arn = str(body["target_group_arn"])
        parsed: list[tuple[tuple[str, str, int], Report | None, list[bool], str | None]] = []
        for item in body["targets"]:
            key = (arn, str(item["id"]), int(item["port"]))
            description = item.get("description")
            if "checks" in item:
                checks = item["checks"]
                if not isinstance(checks, list) or not all(isinstance(c, bool) for c in checks):
                    return _bad(f"checks of {item['id']} must be a list of true/false")
                parsed.append((key, None, checks, description))
                continue
            state = item["state"]
            if state not in STATES:
                return _bad(f"state {state!r} is not one of {sorted(STATES)}")
            reason = item.get("reason") if state != "healthy" else None
            parsed.append((key, Report(state, reason, description if reason else None), [], None))
    except (ValueError, KeyError, TypeError) as exc:
        return _bad(
            "expected {target_group_arn, targets: [{id, port, checks: [bool, ...]}]} "
            f"(or a state instead of checks): {exc}"
        )
    with _lock:
        for key, verdict, checks, description in parsed:
            target = _targets.setdefault(key, _Target())
            if verdict is not None:
                target.verdict = verdict
                continue
            target.verdict = None
            target.checks.extend(checks)
            if description:
                target.failure = description
    return Response(json.dumps({"updated": len(parsed)}), 200, mimetype="application/json")


@hooks.on_infra_start()
def register_route() -> None:
    from localstack.services.edge import ROUTER

    ROUTER.add(path=ROUTE, endpoint=handle_report, methods=["POST"])
