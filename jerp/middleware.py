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
from json.encoder import encode_basestring

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("jerp.access")

# Lines are written in batches: one write per burst of traffic instead of one per request
# (a write per request halved throughput), at most FLUSH_DELAY_S late, and at shutdown.
FLUSH_DELAY_S = 0.05
BATCH_MAX = 512


class ServedByAndAccessLog:
    """Add ``X-Served-By: <instance_id>`` to every HTTP response and log each request.

    An access line is one JSON object: ``ts`` (Unix seconds), ``client`` (``ip:port`` or null),
    ``method``, ``path`` (percent-decoded), ``status``, ``ms`` (time to the last body byte),
    ``instance`` and ``pid`` (the worker process). Paths in ``quiet_paths`` (the load
    balancer's health checks) are not logged.
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
        self._pending: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flush_at_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        header = self._header

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            if self.access_log and scope["path"] not in self.quiet_paths:
                self._log(scope, status, started)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        client = scope.get("client")
        # Only the path can hold characters JSON must escape: the server has already checked
        # that the method is an HTTP token, and the client is an address and a port number.
        peer = f'"{client[0]}:{client[1]}"' if client else "null"
        pending = self._pending
        pending.append(
            f'{{"ts":{time.time():.3f},"client":{peer},"method":"{scope["method"]}",'
            f'"path":{encode_basestring(scope["path"])},"status":{status},'
            f'"ms":{(time.perf_counter() - started) * 1000:.3f}{self._line_tail}'
        )
        if len(pending) == 1:
            asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)
        elif len(pending) >= BATCH_MAX:
            self.flush()

    def flush(self) -> None:
        """Write the access lines not written yet, one JSON object per line."""
        if self._pending:
            lines, self._pending = self._pending, []
            access_logger.info("\n".join(lines))

    def _flush_at_shutdown(self, send: Send) -> Send:
        async def send_after_flush(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown."):
                self.flush()
            await send(message)

        return send_after_flush
