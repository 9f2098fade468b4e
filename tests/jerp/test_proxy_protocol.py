"""JERP behind an NLB target group with proxy protocol v2: the real ``python -m jerp`` on loopback.

With ``JERP_PROXY_PROTOCOL=v2`` the header's source is the client and the AWS endpoint TLV
comes back as ``X-Vpce-Id``; without the setting the header is garbage to HTTP (400), as for
any application not set up for the protocol.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import wait_for
from jerp.proxy_protocol import (
    ProxyHeader,
    ProxyHeaderError,
    encode,
    header_length,
    parse,
    vpce_tlv,
)
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
VPCE = "vpce-008c5a31f5726b2b2"
CLIENT = ProxyHeader(False, ("10.20.1.10", 40001), ("10.20.1.50", 80), (vpce_tlv(VPCE),))
GET = b"GET /user/yundream HTTP/1.1\r\nHost: jerp\r\nConnection: close\r\n\r\n"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: jerp\r\nConnection: close\r\n\r\n"


def exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _serve(tmp_path: Path, proxy_protocol: str | None) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JERP_")}
    env.update(JERP_HOST="127.0.0.1", JERP_PORT=str(port), JERP_INSTANCE_ID="i-pp")
    if proxy_protocol:
        env["JERP_PROXY_PROTOCOL"] = proxy_protocol
    log = tmp_path / f"jerp-{proxy_protocol}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jerp"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        probe = encode(ProxyHeader(local=True)) + HEALTH if proxy_protocol else HEALTH

        def answers() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return exchange(port, probe).startswith(b"HTTP/1.1 200")
            except OSError:
                return False

        wait_for("jerp to answer /healthz", answers, 20)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def v2_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from _serve(tmp_path_factory.mktemp("ppv2"), "v2")


@pytest.fixture(scope="module")
def plain_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from _serve(tmp_path_factory.mktemp("plain"), None)


def test_header_round_trip_and_aws_vpce_tlv_bytes() -> None:
    wire = encode(CLIENT)
    assert header_length(wire[:16]) == len(wire)
    assert parse(wire) == CLIENT
    # PP2_TYPE_AWS, length 23, PP2_SUBTYPE_AWS_VPCE_ID, then the id in ASCII.
    assert wire.endswith(b"\xea\x00\x17\x01" + VPCE.encode())
    with pytest.raises(ProxyHeaderError):
        header_length(b"GET / HTTP/1.1\r\n")


def test_v2_reports_the_endpoint_id_the_connection_came_through(v2_port: int) -> None:
    reply = exchange(v2_port, encode(CLIENT) + GET)
    assert reply.startswith(b"HTTP/1.1 200")
    assert f"x-vpce-id: {VPCE}".encode() in reply.lower()
    assert reply.endswith(b"Hello yundream!. How are you")


def test_v2_health_checks_carry_a_local_header(v2_port: int) -> None:
    reply = exchange(v2_port, encode(ProxyHeader(local=True)) + HEALTH)
    assert reply.startswith(b"HTTP/1.1 200") and b"x-vpce-id" not in reply.lower()


def test_v2_closes_a_connection_without_a_header(v2_port: int) -> None:
    assert exchange(v2_port, GET) == b""


def test_without_the_setting_a_header_is_garbage_to_http(plain_port: int) -> None:
    assert exchange(plain_port, encode(CLIENT) + GET).startswith(b"HTTP/1.1 400")
