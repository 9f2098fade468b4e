"""``X-Served-By`` on every response and the JSON access log: one pure ASGI middleware.

Written the way Starlette's own ``GZipMiddleware`` is: a class that wraps ``send``, so it costs
one closure per request and never buffers a body (``BaseHTTPMiddleware`` would run every request
through a second task and stream).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from json.encoder import encode_basestring
from time import perf_counter_ns

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("jerp.access")

# Lines are written in batches: one write per burst of traffic instead of one per request
# (a write per request halved throughput), at most FLUSH_DELAY_S late, and at shutdown.
FLUSH_DELAY_S = 0.05
BATCH_MAX = 512

# What a request leaves for its access line: when it started and ended (perf_counter_ns),
# the client (address, port) or None, method, path and status.
_Record = tuple[int, int, "tuple[str, int] | None", str, str, int]


class ServedByAndAccessLog:
    """Add ``X-Served-By: <instance_id>`` to every HTTP response and log each request.

    An access line is one JSON object: ``ts`` (Unix seconds, to the millisecond), ``client``
    (``ip:port`` or null), ``method``, ``path`` (percent-decoded), ``status``, ``ms`` (time to
    the last body byte), ``instance`` and ``pid`` (the worker process). Paths in
    ``quiet_paths`` (the load balancer's health checks) are not logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        instance_id: str,
        access_log: bool = True,
        quiet_paths: frozenset[str] = frozenset({"/healthz"}),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.quiet_paths = quiet_paths
        self._header = (b"x-served-by", instance_id.encode("latin-1", "replace"))
        # the constant tail of every access line, encoded once
        self._line_tail = f',"instance":{encode_basestring(instance_id)},"pid":{os.getpid()}}}'
        self._pending: list[_Record] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = self._flush_at_shutdown(send)
            await self.app(scope, receive, send)
            return
        started = perf_counter_ns()
        status = 500  # what the client gets if the app raises before answering
        header = self._header

        # A plain function that hands back send's awaitable, not an ``async def``: the caller
        # awaits the result either way, and this saves a coroutine per message (2 per request).
        def send_with_header(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            if self.access_log:
                path = scope["path"]
                if path not in self.quiet_paths:
                    pending = self._pending
                    # Only the facts are kept per request; flush() formats the lines (see there).
                    ended = perf_counter_ns()
                    pending.append(
                        (started, ended, scope.get("client"), scope["method"], path, status)
                    )
                    if len(pending) == 1:
                        asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)
                    elif len(pending) >= BATCH_MAX:
                        self.flush()

    def flush(self) -> None:
        """Write the access lines not written yet, one JSON object per line."""
        if not self._pending:
            return
        records, self._pending = self._pending, []
        # One clock read per request at each end (perf_counter_ns) gives both ``ms`` and
        # ``ts``: the wall-clock offset is read here, once per batch, at most FLUSH_DELAY_S
        # (or a BATCH_MAX burst) after the requests, so a wall-clock step between the two is
        # the only error, where reading time.time() per request cost a third clock read.
        to_wall_ns = time.time_ns() - perf_counter_ns()
        tail = self._line_tail
        # ``ts`` is whole milliseconds, rounded to the nearest, in integers: the requests of a
        # burst mostly end within the same millisecond, so its text is made once per
        # millisecond, not once per line (a float format cost about 0.25 us a line).
        last_ms, ts = -1, ""
        # Formatting here, in one loop, costs less CPU in total than a call per request
        # (measured in-process, ``python -m bench``). Only the path can hold characters JSON
        # must escape: the server has already checked that the method is an HTTP token, and
        # the client is an address and a port number.
        lines = []
        for started, ended, client, method, path, status in records:
            wall_ms = (ended + to_wall_ns + 500_000) // 1_000_000
            if wall_ms != last_ms:
                last_ms, ts = wall_ms, f"{wall_ms // 1000}.{wall_ms % 1000:03d}"
            peer = f'"{client[0]}:{client[1]}"' if client else "null"
            lines.append(
                f'{{"ts":{ts},"client":{peer},"method":"{method}",'
                f'"path":{encode_basestring(path)},"status":{status},'
                f'"ms":{(ended - started) / 1e6:.3f}{tail}'
            )
        access_logger.info("\n".join(lines))

    def _flush_at_shutdown(self, send: Send) -> Send:
        async def send_after_flush(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown."):
                self.flush()
            await send(message)

        return send_after_flush
