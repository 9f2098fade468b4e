"""PROXY protocol version 2, as a Network Load Balancer sends it (``JERP_PROXY_PROTOCOL=v2``).

With ``proxy_protocol_v2.enabled`` on a target group, every connection to a target starts with
a binary PROXY v2 header: the client's address and, for traffic that came through an interface
endpoint, a TLV of type ``PP2_TYPE_AWS`` (0xEA) with subtype ``PP2_SUBTYPE_AWS_VPCE_ID`` (0x01)
holding the endpoint id (ELB user guide, "Edit target group attributes", Proxy protocol).
Health-check connections carry a ``LOCAL`` header with no addresses.

:class:`ProxyProtocolV2` is uvicorn's HTTP protocol with the header read off the front of the
connection: ``client`` becomes the address from the header and each response carries the
endpoint id in ``X-Vpce-Id``. A connection without a valid header is closed, as a server
that requires the protocol does. Without the setting, JERP serves plain HTTP and a header is
garbage to it (uvicorn answers 400), which is what an application not set up for the
protocol does on AWS.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_TYPE_AWS = 0xEA
PP2_SUBTYPE_AWS_VPCE_ID = 0x01
_LOCAL, _PROXY = 0x0, 0x1
_INET_STREAM = 0x11
_MAX_HEADER = 16 + 65535


class ProxyHeaderError(ValueError):
    """The bytes are not a PROXY v2 header this server accepts."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header: ``local`` for health checks (no addresses), else TCP over IPv4."""

    local: bool
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    @property
    def vpce_id(self) -> str | None:
        for kind, value in self.tlvs:
            if kind == PP2_TYPE_AWS and value[:1] == bytes([PP2_SUBTYPE_AWS_VPCE_ID]):
                return value[1:].decode("ascii", "replace")
        return None


def header_length(data: bytes) -> int | None:
    """The full header's length once 16 bytes are in; None while more are needed."""
    if len(data) < 16:
        if not SIGNATURE.startswith(data[:12]):
            raise ProxyHeaderError("no PROXY v2 signature")
        return None
    if data[:12] != SIGNATURE:
        raise ProxyHeaderError("no PROXY v2 signature")
    return 16 + int(struct.unpack("!H", data[14:16])[0])


def parse(data: bytes) -> ProxyHeader:
    """Parse exactly one complete header (``header_length(data)`` bytes)."""
    length = header_length(data)
    if length is None or len(data) < length:
        raise ProxyHeaderError("truncated PROXY v2 header")
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2 or command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError(f"unsupported PROXY version/command byte {data[12]:#x}")
    if command == _LOCAL:
        return ProxyHeader(local=True, tlvs=_tlvs(data[16:length], 0))
    if data[13] != _INET_STREAM:
        raise ProxyHeaderError(f"unsupported PROXY v2 address family {data[13]:#x}")
    if length < 28:
        raise ProxyHeaderError("PROXY v2 header too short for IPv4 addresses")
    src, dst, sport, dport = struct.unpack("!4s4sHH", data[16:28])
    return ProxyHeader(
        local=False,
        source=(str(ipaddress.IPv4Address(src)), sport),
        destination=(str(ipaddress.IPv4Address(dst)), dport),
        tlvs=_tlvs(data[28:length], 0),
    )


def _tlvs(data: bytes, offset: int) -> tuple[tuple[int, bytes], ...]:
    found = []
    while offset + 3 <= len(data):
        kind, size = data[offset], int(struct.unpack("!H", data[offset + 1 : offset + 3])[0])
        found.append((kind, data[offset + 3 : offset + 3 + size]))
        offset += 3 + size
    return tuple(found)


def encode(header: ProxyHeader) -> bytes:
    """The wire form of ``header`` (the inverse of :func:`parse`)."""
    body = b""
    if not header.local:
        if header.source is None or header.destination is None:
            raise ProxyHeaderError("a PROXY command needs source and destination")
        body = struct.pack(
            "!4s4sHH",
            ipaddress.IPv4Address(header.source[0]).packed,
            ipaddress.IPv4Address(header.destination[0]).packed,
            header.source[1],
            header.destination[1],
        )
    for kind, value in header.tlvs:
        body += struct.pack("!BH", kind, len(value)) + value
    command = 0x20 | (_LOCAL if header.local else _PROXY)
    family = 0x00 if header.local else _INET_STREAM
    return SIGNATURE + struct.pack("!BBH", command, family, len(body)) + body


def vpce_tlv(vpce_id: str) -> tuple[int, bytes]:
    """The AWS TLV that names the endpoint a connection came through."""
    return (PP2_TYPE_AWS, bytes([PP2_SUBTYPE_AWS_VPCE_ID]) + vpce_id.encode("ascii"))


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def _with_vpce_id(app: ASGIApp, vpce_id: str) -> ASGIApp:
    """``app`` with ``X-Vpce-Id`` on every response of this connection."""

    async def wrapped(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-vpce-id", vpce_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_id)

    return wrapped


class ProxyProtocolV2(HttpToolsProtocol):
    """uvicorn's HTTP protocol behind a PROXY v2 header (pass as ``uvicorn.run(http=...)``)."""

    _pending: bytes | None = b""

    def data_received(self, data: bytes) -> None:
        if self._pending is None:  # header done: plain HTTP from here on
            super().data_received(data)
            return
        buffered = self._pending + data
        try:
            length = header_length(buffered)
            if length is None or len(buffered) < length:
                if len(buffered) > _MAX_HEADER:
                    raise ProxyHeaderError("PROXY v2 header too long")
                self._pending = buffered
                return
            header = parse(buffered[:length])
        except ProxyHeaderError as exc:
            self.logger.warning("closing a connection without a valid PROXY v2 header: %s", exc)
            self.transport.close()
            return
        self._pending = None
        if header.source is not None:
            self.client = header.source
        if header.vpce_id:
            self.app = _with_vpce_id(self.app, header.vpce_id)
        if rest := buffered[length:]:
            super().data_received(rest)
