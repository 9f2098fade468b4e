"""The baseline: a bare Starlette app with one route answering the greeting as text/plain."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Hello {request.path_params['name']}!. How are you")


app = Starlette(routes=[Route("/user/{name}", user)])
