"""The NLB node's last hop for a target group with ``proxy_protocol_v2.enabled``.

AWS puts a PROXY v2 header in front of every connection to such a target, and for traffic that
came through an interface endpoint the header carries the endpoint id in a TLV of type
``PP2_TYPE_AWS`` (0xEA), subtype ``PP2_SUBTYPE_AWS_VPCE_ID`` (0x01) (ELB user guide, "Edit target
group attributes", Proxy protocol). HAProxy 2.6 sends PROXY v2 but cannot send a TLV of its own
choosing (``set-proxy-v2-tlv-fmt`` came in 2.9); it can forward a unique id (TLV 0x05). So the
endpoint id travels as that unique id, from the ENI listener to the node and from the node to
this relay, which runs in the node's namespace, rewrites the TLV into AWS's form and splices the
bytes to the target. Connecting from the node's namespace, the target sees the node's address as
source, as on AWS. Health checks do not pass through here: HAProxy sends them straight to the
target with their own (LOCAL) header.

Run: ``python -m harness.dataplane.ppv2 LISTEN_IP:PORT=TARGET_IP:PORT ...``
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.dataplane.netns import NamespacedProcess, OneProcess
from harness.settings import REPO_ROOT
from jerp.proxy_protocol import ProxyHeaderError, encode, header_length, parse, vpce_tlv

PP2_TYPE_UNIQUE_ID = 0x05
_CHUNK = 65536
_HEADER_DEADLINE_S = 5.0


@dataclass(frozen=True)
class RelayRoute:
    """Connections to ``listen`` go on to ``target`` with the AWS-shaped header."""

    listen: tuple[str, int]
    target: tuple[str, int]

    def arg(self) -> str:
        return f"{self.listen[0]}:{self.listen[1]}={self.target[0]}:{self.target[1]}"

    @classmethod
    def from_arg(cls, text: str) -> RelayRoute:
        listen, _, target = text.partition("=")
        (lhost, _, lport), (thost, _, tport) = listen.rpartition(":"), target.rpartition(":")
        return cls((lhost, int(lport)), (thost, int(tport)))


def aws_header(data: bytes) -> bytes:
    """HAProxy's header (endpoint id as unique id) rewritten as the NLB sends it."""
    header = parse(data)
    tlvs = [(kind, value) for kind, value in header.tlvs if kind != PP2_TYPE_UNIQUE_ID]
    vpce = next((v for k, v in header.tlvs if k == PP2_TYPE_UNIQUE_ID and v), b"")
    if vpce:
        tlvs.append(vpce_tlv(vpce.decode("ascii", "replace")))
    return encode(replace(header, tlvs=tuple(tlvs)))


async def _read_header(reader: asyncio.StreamReader) -> bytes:
    data = await reader.readexactly(16)
    length = header_length(data)
    assert length is not None  # 16 bytes are always enough to know the length
    return data + await reader.readexactly(length - 16)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def _serve_one(
    target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    upstream: asyncio.StreamWriter | None = None
    try:
        header = await asyncio.wait_for(_read_header(reader), _HEADER_DEADLINE_S)
        up_reader, upstream = await asyncio.open_connection(*target)
        upstream.write(aws_header(header))
        await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
    except (ProxyHeaderError, asyncio.IncompleteReadError, TimeoutError, OSError) as exc:
        print(f"ppv2 relay to {target[0]}:{target[1]}: {exc!r}", file=sys.stderr, flush=True)
    finally:
        for w in (upstream, writer):
            if w is not None:
                w.close()


async def serve(routes: Sequence[RelayRoute]) -> None:
    """Relay every route until SIGTERM."""
    servers = []
    for route in routes:

        async def handle(
            reader: asyncio.StreamReader,
            writer: asyncio.StreamWriter,
            target: tuple[str, int] = route.target,
        ) -> None:
            await _serve_one(target, reader, writer)

        servers.append(await asyncio.start_server(handle, *route.listen, reuse_address=True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


class PpV2Relay(OneProcess):
    """The relay for one NLB node namespace; start()/stop(), context manager."""

    def __init__(
        self,
        namespace: str,
        routes: Sequence[RelayRoute],
        log_path: Path,
        python: str = sys.executable,
    ) -> None:
        self.routes = tuple(routes)
        self.process = NamespacedProcess(
            f"PROXY v2 relay in {namespace}",
            [python, "-m", "harness.dataplane.ppv2", *(r.arg() for r in self.routes)],
            namespace=namespace,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
            log_path=log_path,
        )


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m harness.dataplane.ppv2 IP:PORT=IP:PORT ...", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve([RelayRoute.from_arg(a) for a in argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
