"""Target health reported by the local data plane, served back by DescribeTargetHealth.

``POST /_jerp/target-health`` with JSON::

    {"target_group_arn": "arn:...:targetgroup/...",
     "targets": [{"id": "i-...", "port": 8080, "state": "healthy" | "unhealthy",
                  "reason": "Target.FailedHealthChecks", "description": "..."}]}

answers ``{"updated": <n>}``. Registered targets nobody reported on show ``initial`` /
``Elb.RegistrationInProgress``, as on AWS before the first health checks complete.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from localstack.http import Request, Response
from localstack.runtime import hooks

ROUTE = "/_jerp/target-health"
STATES = {"initial", "healthy", "unhealthy", "unused", "draining", "unavailable"}


@dataclass(frozen=True)
class Report:
    state: str
    reason: str | None
    description: str | None


_lock = threading.Lock()
_reports: dict[tuple[str, str, int], Report] = {}


def reported(target_group_arn: str, target_id: str, port: int) -> Report | None:
    with _lock:
        return _reports.get((target_group_arn, target_id, int(port)))


def _bad(message: str) -> Response:
    return Response(json.dumps({"error": message}), 400, mimetype="application/json")


def handle_report(request: Request) -> Response:
    try:
        body = json.loads(request.get_data() or b"{}")
        arn = body["target_group_arn"]
        targets = body["targets"]
        updates = {}
        for item in targets:
            state = item["state"]
            if state not in STATES:
                return _bad(f"state {state!r} is not one of {sorted(STATES)}")
            key = (str(arn), str(item["id"]), int(item["port"]))
            reason = item.get("reason") if state != "healthy" else None
            updates[key] = Report(state, reason, item.get("description") if reason else None)
    except (ValueError, KeyError, TypeError) as exc:
        return _bad(f"expected {{target_group_arn, targets: [{{id, port, state}}]}}: {exc}")
    with _lock:
        _reports.update(updates)
    return Response(json.dumps({"updated": len(updates)}), 200, mimetype="application/json")


@hooks.on_infra_start()
def register_route() -> None:
    from localstack.services.edge import ROUTER

    ROUTER.add(path=ROUTE, endpoint=handle_report, methods=["POST"])
