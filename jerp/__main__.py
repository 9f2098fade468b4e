"""``jerp`` / ``python -m jerp``: serve JERP with uvicorn, settings from JERP_* variables."""

from __future__ import annotations

import sys

import uvicorn

from jerp.logconfig import log_config
from jerp.proxy_protocol import ProxyProtocolV2
from jerp.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"jerp: {exc}", file=sys.stderr)
        return 2
    # An import string and a factory, because each of JERP_WORKERS processes builds its own app
    # (from the same validated JERP_* environment); with one worker it runs in this process.
    uvicorn.run(
        "jerp.app:create_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,  # JERP writes its own JSON access lines (jerp.middleware)
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
        # A PROXY v2 header is read off each connection before HTTP (jerp.proxy_protocol).
        http=ProxyProtocolV2 if settings.proxy_protocol == "v2" else "auto",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
