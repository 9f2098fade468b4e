"""JERP's routes: the FastAPI application uvicorn serves and ``/docs`` documents.

``X-Served-By`` and the access log are :class:`jerp.middleware.ServedByAndAccessLog`.
"""

from __future__ import annotations

import re
import unicodedata
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from jerp.middleware import ServedByAndAccessLog
from jerp.settings import Settings, load_settings

ALLOWED_PUNCTUATION = "-_."
NAME_RULES = (
    "a name is 1 to JERP_MAX_NAME_LENGTH characters (default 64): letters and digits of any "
    "script, combining marks, and '-', '_', '.'; no spaces or control characters; a '/' "
    "(also '%2F') makes the path /user/a/b, which is no route (404)"
)
_FAST_ASCII = re.compile(r"[A-Za-z0-9._-]+")
# pyproject.toml is the one place the version is written; the installed metadata carries it
VERSION = version("jerp-privatelink")


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
    # Letters and digits only, the usual name: the str methods say so in about 40 ns, where
    # the pattern takes about 230 (a name with '-', '_' or '.' still passes by the pattern).
    if name.isascii() and name.isalnum():
        return
    if _FAST_ASCII.fullmatch(name):
        return
    for ch in name:
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


def _name_parameter(max_length: int) -> dict[str, object]:
    """The OpenAPI description of the ``{name}`` path parameter (see ``user`` below)."""
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": NAME_RULES,
        "schema": {"type": "string", "minLength": 1, "maxLength": max_length},
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """JERP; ``uvicorn --factory jerp.app:create_app`` reads the settings from JERP_*."""
    settings = settings or load_settings()
    max_length, instance_id = settings.max_name_length, settings.instance_id
    api = FastAPI(
        title="JERP",
        version=VERSION,
        description="Greets users; the service the PrivateLink kit exposes across VPCs.",
        # '/user/a/' is a name with a '/' in it: 404 like '/user/a/b', not a redirect to 'a'
        redirect_slashes=False,
    )
    api.add_middleware(
        ServedByAndAccessLog, instance_id=instance_id, access_log=settings.access_log
    )
    # FastAPI's own routes (/openapi.json, /docs, /docs/oauth2-redirect, /redoc), added by
    # its constructor; JERP's routes go in front of them below.
    framework_routes = len(api.router.routes)

    @api.exception_handler(NameRejected)
    async def rejected(request: Request, exc: NameRejected) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=400)

    @api.get(
        "/user/{name}",
        response_class=PlainTextResponse,
        summary="Greet a user",
        description=f"Answers `Hello <name>!. How are you` as text/plain. Rules: {NAME_RULES}.",
        responses={400: {"description": "the name breaks a rule (JSON names the rule)"}},
        openapi_extra={"parameters": [_name_parameter(max_length)]},
    )
    async def user(request: Request) -> PlainTextResponse:
        # The name is read from the matched path, not declared as `name: str`: a path segment
        # is always a string, so FastAPI's validation of that declaration could never fail,
        # and it cost about 11 us of the 56 us a minimal FastAPI route takes in-process
        # (`make bench`). check_name is the validation that matters.
        name: str = request.path_params["name"]
        check_name(name, max_length)
        return PlainTextResponse(greeting(name))

    # '{name}' never matches an empty segment; this route names the rule instead of a bare 404
    @api.get("/user/", include_in_schema=False)
    async def empty_name() -> None:
        check_name("", max_length)

    @api.get("/healthz", response_class=PlainTextResponse, summary="Load-balancer health check")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @api.get("/info", summary="Version and serving instance")
    async def info() -> dict[str, str]:
        return {"service": "jerp", "version": VERSION, "instance_id": instance_id}

    # Routes are matched in order, so with FastAPI's documentation routes first every greeting
    # was tried against those four paths before its own: about 3 us of the ~60 us a request
    # costs in-process (`make bench`). No JERP path overlaps them, so every request gets the
    # same answer; OpenAPI lists JERP's routes in the same order as before.
    routes = api.router.routes
    routes[:] = routes[framework_routes:] + routes[:framework_routes]
    return api
