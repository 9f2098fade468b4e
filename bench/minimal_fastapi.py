"""The yardsticks for JERP: minimal FastAPI apps with one route each and nothing else.

``app`` answers one constant route (the target: JERP >= 0.9x its requests/s); ``app_with_name``
answers ``/user/{name}`` with the path parameter FastAPI validates, so the bench can tell what
FastAPI's parameter handling costs apart from what JERP's own features cost.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()
app_with_name = FastAPI()


@app.get("/user/yundream", response_class=PlainTextResponse)
async def greet() -> PlainTextResponse:
    return PlainTextResponse("Hello yundream!. How are you")


@app_with_name.get("/user/{name}", response_class=PlainTextResponse)
async def greet_name(name: str) -> PlainTextResponse:
    return PlainTextResponse(f"Hello {name}!. How are you")
