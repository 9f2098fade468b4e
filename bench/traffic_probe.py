"""A probe loop run inside an emulated host's namespace by ``bench.follow_bench``.

``python -m bench.traffic_probe <address> <port> <expect> <seconds>`` sends
``GET /user/yundream`` to ``address:port`` over a new connection every ``INTERVAL_S`` until
``seconds`` have passed, and prints one line per request: its start (epoch seconds) and 1 when
the answer held ``expect``, else 0. Each request gives up after ``TIMEOUT_S``, so a dropped SYN
costs a bounded time. The wall clock is shared across namespaces, so the bench compares these
times with the moment it made an API call.
"""

from __future__ import annotations

import socket
import sys
import time

INTERVAL_S = 0.01
TIMEOUT_S = 0.25


def probe_once(address: str, port: int, expect: bytes) -> bool:
    request = f"GET /user/yundream HTTP/1.0\r\nHost: {address}\r\n\r\n".encode()
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT_S) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return False
    return expect in answer


def main(argv: list[str]) -> int:
    address, port, expect, seconds = argv[0], int(argv[1]), argv[2].encode(), float(argv[3])
    end = time.monotonic() + min(seconds, 300.0)
    while time.monotonic() < end:
        started = time.time()
        ok = probe_once(address, port, expect)
        print(f"{started:.4f} {int(ok)}", flush=True)
        time.sleep(INTERVAL_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
