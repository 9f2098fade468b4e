"""JERP's routes through the ASGI app uvicorn serves (no socket), middleware included."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from jerp import __version__
from jerp.app import NameRejected, check_name, create_app, greeting
from jerp.settings import Settings

SETTINGS = Settings(instance_id="i-test", access_log=False)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport (a sync wrapper for plain tests)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(SETTINGS))
        async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def get(url: str) -> httpx.Response:
    return request("GET", url)


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


@pytest.mark.parametrize("path", ["/user/a/b", "/user/a%2Fb", "/user/a%2fb", "/user/a/"])
def test_slash_in_name_is_404(path: str) -> None:
    # the path no longer matches /user/{name} (a '/' or %2F ends the segment): a plain 404,
    # not a redirect to the name before the slash
    response = get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["x-served-by"] == "i-test"


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
    assert response.json()["version"] == __version__
    assert response.headers["x-served-by"] == "i-test"


def test_openapi_lists_user_route() -> None:
    response = get("/openapi.json")
    assert response.status_code == 200
    assert "/user/{name}" in response.json()["paths"]
    assert "get" in response.json()["paths"]["/user/{name}"]
    assert response.json()["info"]["version"] == __version__
    # the handler reads the name from the path; the parameter is still documented, with limits
    (parameter,) = response.json()["paths"]["/user/{name}"]["get"]["parameters"]
    assert parameter["name"] == "name" and parameter["in"] == "path" and parameter["required"]
    assert parameter["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": SETTINGS.max_name_length,
    }


def test_version_comes_from_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert __version__ == pyproject["project"]["version"]


def test_slash_is_no_name_character() -> None:
    with pytest.raises(NameRejected) as rejected:
        check_name("a/b", SETTINGS.max_name_length)
    assert rejected.value.rule == "character_set"


def test_greeting_helper() -> None:
    assert greeting("x") == "Hello x!. How are you"


def test_greeting_route_is_matched_before_the_documentation_routes() -> None:
    # FastAPI adds /openapi.json, /docs, /docs/oauth2-redirect and /redoc first; create_app
    # moves them behind JERP's routes, which saves every greeting four failed matches.
    paths = [getattr(route, "path", None) for route in create_app(SETTINGS).router.routes]
    assert paths[:4] == ["/user/{name}", "/user/", "/healthz", "/info"]
    assert sorted(paths[4:]) == ["/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"]
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert get(path).status_code == 200
