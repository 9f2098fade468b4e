"""A change notice for the local data plane: a generation counter of EC2/ELBv2 state.

Every successful EC2 or ELBv2 call that is not a read (``Describe*``, ``Get*``, ``List*``)
bumps the generation: accepting or rejecting a connection, security-group rules, instance
start/stop, target (de)registration, creates, deletes, modifications. The data plane
long-polls::

    GET /_jerp/changes?after=<generation>&timeout=<seconds>

which answers ``{"generation": <n>, "changes": [<name>, ...]}`` as soon as the generation
differs from ``after``, or with the unchanged generation once ``timeout`` seconds (at most
``MAX_TIMEOUT_S``) have passed. ``changes`` names what changed after ``after``, each name once:
the API operation (``AcceptVpcEndpointConnections``, ``RevokeSecurityGroupIngress`` ...) or, for
a change no call makes, ``VpcEndpointAvailable`` (an accepted endpoint's ``pending`` is over)
and ``TargetDrained`` (a deregistered target's draining is over); a reader can then re-read
only what those touch. It is left out when the last ``LOG_SIZE`` changes no longer cover the
range (then the reader has to read everything). Without ``after`` it answers at once, with the
generation alone. Within one LocalStack the generation only grows, so
"differs" means "greater"; it starts at 0 with each LocalStack, and a reader still holding a
generation of the previous one gets the new one at once instead of waiting for it to catch up.

Target-health reports (``POST /_jerp/target-health``) do not bump it: they come from the data
plane itself, which would otherwise wake itself after every report.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from localstack.http import Request, Response

ROUTE = "/_jerp/changes"
WATCHED_SERVICES = {"ec2", "elbv2"}
READ_PREFIXES = ("Describe", "Get", "List")
MAX_TIMEOUT_S = 30.0
# How many changes are remembered by name: far more than arrive between two long-polls.
LOG_SIZE = 4096

_changed = threading.Condition()
_generation = 0
_log: deque[tuple[int, str]] = deque(maxlen=LOG_SIZE)  # (generation, what changed)
_installed = False


def generation() -> int:
    with _changed:
        return _generation


def bump(what: str) -> int:
    """Record one change, named ``what``, and wake every waiting reader; the new generation."""
    global _generation
    with _changed:
        _generation += 1
        _log.append((_generation, what))
        _changed.notify_all()
        return _generation


def changed_between(after: int, current: int) -> list[str] | None:
    """The names of the changes after generation ``after`` up to ``current``, each once, or
    None when the log no longer holds them all (or ``after`` is not from this LocalStack)."""
    with _changed:
        if not 0 <= after <= current:
            return None
        names = [what for generation, what in _log if after < generation <= current]
    return sorted(set(names)) if len(names) == current - after else None


def wait_after(after: int, timeout_s: float) -> int:
    """The generation once it differs from ``after``, or the current one at the timeout."""
    with _changed:
        _changed.wait_for(lambda: _generation != after, timeout=timeout_s)
        return _generation


def is_mutation(service: str | None, operation: str | None, status: int) -> bool:
    """Whether a call changed state the data plane follows."""
    return (
        service in WATCHED_SERVICES
        and bool(operation)
        and not str(operation).startswith(READ_PREFIXES)
        and status < 400
    )


def bump_on_mutation(chain: Any, context: Any, response: Any) -> None:
    """LocalStack response handler: bump the generation after a successful mutating call."""
    service = context.service.service_name if context.service is not None else None
    operation = context.operation.name if context.operation is not None else None
    if is_mutation(service, operation, response.status_code):
        bump(str(operation))


def _bad(message: str) -> Response:
    return Response(json.dumps({"error": message}), 400, mimetype="application/json")


def handle_changes(request: Request) -> Response:
    try:
        after = request.args.get("after")
        timeout_s = float(request.args.get("timeout", "20"))
        answer: dict[str, Any] = {}
        if after is None:
            answer["generation"] = generation()
        else:
            since = int(after)
            current = wait_after(since, min(max(timeout_s, 0.0), MAX_TIMEOUT_S))
            answer["generation"] = current
            names = changed_between(since, current)
            if names is not None:
                answer["changes"] = names
    except ValueError as exc:
        return _bad(f"expected ?after=<integer>&timeout=<seconds>: {exc}")
    return Response(json.dumps(answer), 200, mimetype="application/json")


def install() -> None:
    """Add the response handler and the route to LocalStack (once per process)."""
    global _installed
    with _changed:
        if _installed:
            return
        _installed = True
    from localstack.aws.handlers import run_custom_response_handlers
    from localstack.services.edge import ROUTER

    run_custom_response_handlers.append(bump_on_mutation)
    ROUTER.add(path=ROUTE, endpoint=handle_changes, methods=["GET"])
