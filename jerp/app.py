"""JERP's routes.

``GET /user/{name}`` and ``GET /healthz`` are the hot paths (every request of a load test,
every NLB health check): a thin ASGI layer answers them directly, with the same rules and
the same bytes as the FastAPI routes below, which stay the documented API (OpenAPI at
``/docs``) and serve everything else. Every response carries ``X-Served-By``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from jerp.settings import Settings, load_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VERSION = "0.1.0"
USER_PREFIX = "/user/"
ALLOWED_PUNCTUATION = "-_."
NAME_RULES = (
    "a name is 1 to JERP_MAX_NAME_LENGTH characters (default 64): letters and digits of any "
    "script, combining marks, and '-', '_', '.'; no '/', spaces or control characters"
)
ACCESS_FLUSH_S = 0.05
ACCESS_BATCH_MAX = 512
_FAST_ASCII = re.compile(r"[A-Za-z0-9._-]+")

access_logger = logging.getLogger("jerp.access")


class NameRejected(ValueError):
    """A name broke one rule; ``rule`` is its stable identifier."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"error": "invalid name", "rule": self.rule, "detail": self.detail}


def check_name(name: str, max_length: int) -> None:
    """Raise :class:`NameRejected` unless ``name`` (already percent-decoded once) is valid."""
    if not name:
        raise NameRejected("empty", "the name must not be empty")
    if len(name) > max_length:
        raise NameRejected(
            "too_long", f"the name is {len(name)} characters; at most {max_length} are allowed"
        )
    if _FAST_ASCII.fullmatch(name):
        return
    for ch in name:
        if ch == "/":
            raise NameRejected("slash", "the name must not contain '/' (nor '%2F')")
        category = unicodedata.category(ch)
        if category[0] in "LMN" or ch in ALLOWED_PUNCTUATION:
            continue
        if category[0] == "C":
            raise NameRejected(
                "control_character",
                f"the name must not contain control or unassigned characters (U+{ord(ch):04X})",
            )
        raise NameRejected(
            "character_set",
            f"{ch!r} (U+{ord(ch):04X}) is not allowed: {NAME_RULES}",
        )


def greeting(name: str) -> str:
    return f"Hello {name}!. How are you"


def build_api(settings: Settings) -> FastAPI:
    """The FastAPI application: the documented routes."""
    api = FastAPI(
        title="JERP",
        version=VERSION,
        description="Greets users; the service the PrivateLink kit exposes across VPCs.",
    )

    @api.exception_handler(NameRejected)
    async def _rejected(request: Request, exc: NameRejected) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=400)

    @api.get(
        "/user/{name}",
        response_class=PlainTextResponse,
        summary="Greet a user",
        description=f"Answers `Hello <name>!. How are you` as text/plain. Rules: {NAME_RULES}.",
        responses={400: {"description": "the name breaks a rule (JSON names the rule)"}},
    )
    async def user(name: str) -> PlainTextResponse:
        check_name(name, settings.max_name_length)
        return PlainTextResponse(greeting(name))

    @api.get("/healthz", response_class=PlainTextResponse, summary="Load-balancer health check")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @api.get("/info", summary="Version and serving instance")
    async def info() -> dict[str, str]:
        return {"service": "jerp", "version": VERSION, "instance_id": settings.instance_id}

    return api


class JerpApp:
    """The ASGI application uvicorn serves: hot paths direct, the rest through FastAPI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = build_api(settings)
        self._served_by = (b"x-served-by", settings.instance_id.encode("latin-1", "replace"))
        self._text_headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            self._served_by,
        ]
        self._json_type = (b"content-type", b"application/json")
        self._log = settings.access_log
        # Access lines are batched: one write per event-loop tick of traffic instead of one per
        # request (halves throughput otherwise); flushed within ACCESS_FLUSH_S and at shutdown.
        self._pending: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.api(scope, receive, self._flush_before_shutdown(send))
            return
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(USER_PREFIX):
                await self._greet(scope, send, path[len(USER_PREFIX) :])
                return
            if path == "/healthz":
                await self._respond(send, 200, self._text_headers, b"ok")
                return
        await self._delegate(scope, receive, send)

    async def _respond(
        self, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _greet(self, scope: Scope, send: Send, name: str) -> None:
        started = time.perf_counter()
        try:
            check_name(name, self.settings.max_name_length)
        except NameRejected as exc:
            status = 400
            # the same bytes as FastAPI's JSONResponse, so both paths answer identically
            body = json.dumps(exc.body(), ensure_ascii=False, separators=(",", ":")).encode()
            await self._respond(send, status, [self._json_type, self._served_by], body)
        else:
            status = 200
            await self._respond(send, status, self._text_headers, greeting(name).encode())
        if self._log:
            self._access(scope, status, started)

    async def _delegate(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_served_by(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), self._served_by]
            await send(message)

        try:
            await self.api(scope, receive, send_served_by)
        finally:
            if self._log and scope["type"] == "http" and scope["path"] != "/healthz":
                self._access(scope, status, started)

    def _flush_before_shutdown(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown."):
                self.flush_access_log()
            await send(message)

        return wrapped

    def flush_access_log(self) -> None:
        """Write the access lines not written yet (one JSON object per line)."""
        if self._pending:
            lines, self._pending = self._pending, []
            access_logger.info("\n".join(lines))

    def _access(self, scope: Scope, status: int, started: float) -> None:
        client = scope.get("client")
        if not self._pending:
            asyncio.get_running_loop().call_later(ACCESS_FLUSH_S, self.flush_access_log)
        elif len(self._pending) >= ACCESS_BATCH_MAX:
            self.flush_access_log()
        self._pending.append(
            json.dumps(
                {
                    "ts": round(time.time(), 3),
                    "client": f"{client[0]}:{client[1]}" if client else None,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                    "instance": self.settings.instance_id,
                },
                ensure_ascii=False,
            )
        )


def create_app(settings: Settings | None = None) -> JerpApp:
    """The ASGI app; ``uvicorn --factory jerp.app:create_app`` reads settings from the env."""
    return JerpApp(settings or load_settings())
