"""ServedByAndAccessLog: the header on every response, the access line, what is not logged."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from jerp.app import create_app
from jerp.middleware import ServedByAndAccessLog
from jerp.settings import Settings

LINE_KEYS = {"ts", "client", "method", "path", "status", "ms", "instance", "pid"}


async def teapot(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: 418 with one header of its own, or a crash on /boom."""
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    await send({"type": "http.response.start", "status": 418, "headers": [(b"x-own", b"1")]})
    await send({"type": "http.response.body", "body": b"tea"})


def call(app: Any, path: str, method: str = "GET") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for record in caplog.records
        if record.name == "jerp.access"
        for line in record.getMessage().splitlines()
    ]


def test_header_added_and_app_headers_kept(caplog: pytest.LogCaptureFixture) -> None:
    middleware = ServedByAndAccessLog(teapot, instance_id="i-mw")
    response = call(middleware, "/tea")
    assert response.status_code == 418
    assert response.headers["x-served-by"] == "i-mw"
    assert response.headers["x-own"] == "1"
    assert response.content == b"tea"


def test_access_line_shape(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    middleware = ServedByAndAccessLog(teapot, instance_id='i-"quoted"')
    call(middleware, "/t%C3%A9a%01")
    assert access_lines(caplog) == []  # batched: nothing written before the flush
    middleware.flush()
    [line] = access_lines(caplog)
    assert set(line) == LINE_KEYS
    assert line["client"] == "203.0.113.7:4242"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/t\u00e9a\x01", 418)
    assert line["instance"] == 'i-"quoted"'
    assert line["pid"] == os.getpid()
    assert line["ms"] >= 0
    assert isinstance(line["ts"], float)
    # ts is the request's end on the wall clock (a monotonic reading plus the flush's offset)
    assert abs(line["ts"] - time.time()) < 5


def test_one_write_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    middleware = ServedByAndAccessLog(teapot, instance_id="i-mw")
    for n in range(3):
        call(middleware, f"/{n}")
    middleware.flush()
    middleware.flush()  # nothing pending: writes nothing
    assert [r.getMessage().count("\n") for r in caplog.records] == [2]
    assert [line["path"] for line in access_lines(caplog)] == ["/0", "/1", "/2"]


def test_batch_is_written_within_the_flush_delay(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    middleware = ServedByAndAccessLog(teapot, instance_id="i-mw")

    async def go() -> None:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
            await client.get("/late")
            deadline = asyncio.get_running_loop().time() + 2
            while not access_lines(caplog):  # the scheduled flush, not an explicit one
                assert asyncio.get_running_loop().time() < deadline, "no flush within 2 s"
                await asyncio.sleep(0.01)

    asyncio.run(go())
    assert [line["path"] for line in access_lines(caplog)] == ["/late"]


def test_quiet_paths_and_disabled_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    quiet = ServedByAndAccessLog(teapot, instance_id="i-mw")
    assert call(quiet, "/healthz").headers["x-served-by"] == "i-mw"
    quiet.flush()
    silent = ServedByAndAccessLog(teapot, instance_id="i-mw", access_log=False)
    assert call(silent, "/tea").headers["x-served-by"] == "i-mw"
    silent.flush()
    assert access_lines(caplog) == []


def test_crash_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    middleware = ServedByAndAccessLog(teapot, instance_id="i-mw")
    with pytest.raises(RuntimeError):
        call(middleware, "/boom")
    middleware.flush()
    assert [(line["path"], line["status"]) for line in access_lines(caplog)] == [("/boom", 500)]


async def serve_between_startup_and_shutdown(app: Any, paths: list[tuple[str, str]]) -> None:
    """What uvicorn does: lifespan startup, the requests, lifespan shutdown."""
    events: asyncio.Queue[Message] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: Message) -> None:
        {"lifespan.startup.complete": started, "lifespan.shutdown.complete": stopped}[
            message["type"]
        ].set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send)
    )
    await events.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), timeout=5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
        for method, path in paths:
            await client.request(method, path)
    await events.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(stopped.wait(), timeout=5)
    await lifespan


def test_lifespan_shutdown_flushes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jerp.access")
    app = create_app(Settings(instance_id="i-app"))
    requests = [
        ("GET", "/user/yundream"),
        ("GET", "/user/a%01"),
        ("GET", "/user/a/b"),
        ("POST", "/user/yundream"),
        ("GET", "/healthz"),
    ]
    asyncio.run(serve_between_startup_and_shutdown(app, requests))
    logged = [(line["method"], line["path"], line["status"]) for line in access_lines(caplog)]
    assert logged == [
        ("GET", "/user/yundream", 200),
        ("GET", "/user/a\x01", 400),
        ("GET", "/user/a/b", 404),
        ("POST", "/user/yundream", 405),
    ]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/user/yundream", 200),
        ("GET", "/user/", 400),
        ("GET", "/user/a%01", 400),
        ("GET", "/user/a/b", 404),
        ("GET", "/nope", 404),
        ("POST", "/user/yundream", 405),
        ("DELETE", "/healthz", 405),
        ("GET", "/healthz", 200),
        ("GET", "/info", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
    ],
)
def test_every_app_response_has_the_header(method: str, path: str, status: int) -> None:
    response = call(create_app(Settings(instance_id="i-app", access_log=False)), path, method)
    assert response.status_code == status
    assert response.headers.get_list("x-served-by") == ["i-app"]


def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "websocket.close", "code": 1000})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    middleware = ServedByAndAccessLog(app, instance_id="i-mw")
    asyncio.run(middleware({"type": "websocket", "path": "/ws"}, receive, send))
    assert seen == ["websocket"]
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_access_line_text_with_fixed_clocks(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jerp.middleware as module

    # perf_counter_ns: each request's start and end, then the flush's reading (2 s), while the
    # wall clock says 1700000000.005 s: the requests ended at 1699999999.005499999,
    # .0055 and .0056 on the wall clock.
    starts_and_ends = [1_000_000_000, 1_000_499_999, 1_000_100_000, 1_000_500_000]
    starts_and_ends += [1_000_550_000, 1_000_600_000]
    readings = iter([*starts_and_ends, 2_000_000_000])
    monkeypatch.setattr(module, "perf_counter_ns", lambda: next(readings))
    monkeypatch.setattr(module.time, "time_ns", lambda: 1_700_000_000_005_000_000)
    caplog.set_level(logging.INFO, logger="jerp.access")
    middleware = ServedByAndAccessLog(teapot, instance_id="i-mw")
    for path in ("/a", "/b", "/c"):
        call(middleware, path)
    middleware.flush()
    # ts is the nearest millisecond, three decimals, zero-padded; ms has three decimals
    expected = [
        ("1699999999.005", "/a", "0.500"),
        ("1699999999.006", "/b", "0.400"),
        ("1699999999.006", "/c", "0.050"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "\n".join(
            f'{{"ts":{ts},"client":"203.0.113.7:4242","method":"GET","path":"{path}",'
            f'"status":418,"ms":{ms},"instance":"i-mw","pid":{os.getpid()}}}'
            for ts, path, ms in expected
        )
    ]
