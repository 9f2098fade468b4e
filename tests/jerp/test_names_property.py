"""Property tests: every accepted name round-trips into the greeting; no input yields a 5xx."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from jerp.app import check_name, create_app, greeting
from jerp.settings import Settings

SETTINGS = Settings(instance_id="i-prop", access_log=False)
APP = create_app(SETTINGS)

# letters, digits and marks of any script, plus the allowed punctuation
NAME_CHARS = st.characters(categories=("L", "M", "N"), exclude_characters="/") | st.sampled_from(
    "-_."
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=SETTINGS.max_name_length)


def fetch(raw_path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://jerp.test") as client:
            return await client.get(raw_path)

    return asyncio.run(go())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES)
@example("yundream")
@example("윤드림")
@example("...")
def test_accepted_names_round_trip(name: str) -> None:
    check_name(name, SETTINGS.max_name_length)  # the generator only makes valid names
    # '.' and '..' are dot-segments: URL clients (httpx, curl, browsers) remove them before
    # sending, so the server never sees those two names.
    assume(name not in {".", ".."})
    response = fetch("/user/" + quote(name, safe=""))
    assert response.status_code == 200, (name, response.text)
    assert response.content == greeting(name).encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example(".")
@example("..")
@example("a/b")
@example("\x00")
def test_arbitrary_text_never_5xx(text: str) -> None:
    response = fetch("/user/" + quote(text, safe=""))
    assert response.status_code in {200, 400, 404}, (text, response.status_code)
    # 404 exactly when the name cannot be one path segment ('/', or a dot-segment the client
    # removes): the path is then no route
    assert (response.status_code == 404) == ("/" in text or text in {".", ".."}), text
    if response.status_code == 200:
        assert response.content == greeting(text).encode()
    elif response.status_code == 400:
        assert response.json()["rule"] in {
            "empty",
            "too_long",
            "control_character",
            "character_set",
        }
