"""``jerp`` / ``python -m jerp``: serve JERP with uvicorn, settings from JERP_* variables."""

from __future__ import annotations

import json
import logging
import sys

import uvicorn

from jerp.app import create_app
from jerp.settings import SettingsError, load_settings


class JsonFormatter(logging.Formatter):
    """Server logs as JSON objects too, so one parser reads everything JERP writes."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": round(record.created, 3),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def configure_logging(level: str) -> None:
    """Access lines are JSON objects on stdout, one per line; other logs go to stderr."""
    access = logging.getLogger("jerp.access")
    access.handlers[:] = [logging.StreamHandler(sys.stdout)]
    access.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    access.propagate = False
    access.setLevel(logging.INFO)
    errors = logging.StreamHandler(sys.stderr)
    errors.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [errors]
    root.setLevel(level.upper())


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"jerp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,  # JERP writes its own JSON access lines
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
