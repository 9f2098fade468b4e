"""Where JERP's logs go: access lines on stdout, everything else as JSON on stderr.

A ``logging.config.dictConfig`` dictionary, because uvicorn applies it in every worker process
it spawns (``JERP_WORKERS`` > 1); logging configured only in the parent would not reach them.
"""

from __future__ import annotations

import json
import logging
from typing import Any


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


def log_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonFormatter},
            # access lines are JSON already (jerp.middleware builds them)
            "line": {"format": "%(message)s"},
        },
        "handlers": {
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stdout",
            },
            "errors": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "jerp.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["errors"], "level": level.upper()},
    }
