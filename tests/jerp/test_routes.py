"""JERP's routes through ASGI (no socket): the fast path, the FastAPI path, and their parity."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from jerp.app import build_api, create_app, greeting
from jerp.settings import Settings

SETTINGS = Settings(instance_id="i-test", access_log=False)


def request(method: str, url: str, app: Any = None, **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport (a sync wrapper for plain tests)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app or create_app(SETTINGS))
        async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def get(url: str, app: Any = None) -> httpx.Response:
    return request("GET", url, app)


def assert_rejected(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "rule", "detail"}
    assert body["error"] == "invalid name"
    assert body["rule"] == rule
    assert body["detail"]


def test_greeting_is_byte_exact() -> None:
    response = get("/user/yundream")
    assert response.status_code == 200
    assert response.content == b"Hello yundream!. How are you"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["x-served-by"] == "i-test"


def test_korean_name_percent_encoded() -> None:
    response = get("/user/%EC%9C%A4%EB%93%9C%EB%A6%BC")  # 윤드림
    assert response.status_code == 200
    assert response.content == "Hello 윤드림!. How are you".encode()


def test_percent_encoding_is_decoded_once() -> None:
    # %2541 decodes once to the literal '%41'; '%' is not an allowed character.
    response = get("/user/%2541")
    assert_rejected(response, "character_set")
    # once-encoded letters are just letters
    assert get("/user/%61bc").content == b"Hello abc!. How are you"


def test_empty_name() -> None:
    assert_rejected(get("/user/"), "empty")


def test_too_long_name() -> None:
    assert get("/user/" + "a" * SETTINGS.max_name_length).status_code == 200
    assert_rejected(get("/user/" + "a" * (SETTINGS.max_name_length + 1)), "too_long")


def test_control_character() -> None:
    assert_rejected(get("/user/a%01b"), "control_character")


@pytest.mark.parametrize("path", ["/user/a/b", "/user/a%2Fb", "/user/a%2fb"])
def test_slash(path: str) -> None:
    assert_rejected(get(path), "slash")


@pytest.mark.parametrize("path", ["/user/a%20b", "/user/%20"])
def test_space(path: str) -> None:
    response = get(path)
    assert response.status_code == 400
    assert response.json()["rule"] == "character_set"


def test_unknown_path_is_404_with_served_by() -> None:
    response = get("/nope")
    assert response.status_code == 404
    assert response.headers["x-served-by"] == "i-test"


def test_post_is_405_with_served_by() -> None:
    for path in ("/user/yundream", "/healthz"):
        response = request("POST", path, content=b"x")
        assert response.status_code == 405
        assert response.headers["x-served-by"] == "i-test"


def test_served_by_on_400() -> None:
    assert get("/user/a%01").headers["x-served-by"] == "i-test"


def test_healthz() -> None:
    response = get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-served-by"] == "i-test"


def test_info() -> None:
    response = get("/info")
    assert response.status_code == 200
    assert response.json()["instance_id"] == "i-test"
    assert response.json()["service"] == "jerp"
    assert response.headers["x-served-by"] == "i-test"


def test_openapi_lists_user_route() -> None:
    response = get("/openapi.json")
    assert response.status_code == 200
    assert "/user/{name}" in response.json()["paths"]
    assert "get" in response.json()["paths"]["/user/{name}"]


@pytest.mark.parametrize(
    "path",
    [
        "/user/yundream",
        "/user/%EC%9C%A4%EB%93%9C%EB%A6%BC",
        "/user/a-b_c.d",
        "/user/%2541",
        "/user/a%01b",
        "/user/a%20b",
        "/user/" + "a" * 65,
    ],
)
def test_fastapi_route_matches_fast_path(path: str) -> None:
    fast = get(path)
    api = get(path, app=build_api(SETTINGS))
    assert api.status_code == fast.status_code
    assert api.content == fast.content
    if fast.status_code == 200:
        assert api.headers["content-type"] == fast.headers["content-type"]
    else:
        assert api.json() == fast.json()


@pytest.mark.parametrize("path", ["/user/a/b", "/user/a%2Fb"])
def test_fastapi_route_cannot_see_a_slash(path: str) -> None:
    # Starlette's {name} never matches across '/', so the FastAPI route answers 404 where the
    # fast path (the one uvicorn serves) names the rule; both refuse the name.
    assert get(path, app=build_api(SETTINGS)).status_code == 404
    assert_rejected(get(path), "slash")


def test_greeting_helper() -> None:
    assert greeting("x") == "Hello x!. How are you"
