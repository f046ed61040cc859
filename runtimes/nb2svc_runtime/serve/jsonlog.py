"""JSON-line logging: one object per line on stdout (access log) or stderr (everything else)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import orjson

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    second = int(created)
    if _second[0] != second:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    millis = int((created - second) * 1000)
    return f"{_second[1]}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; the traceback goes into `exc` (logs only)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str) -> None:
    """Route the root, uvicorn and nb2svc loggers to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def access_line(fields: dict[str, Any]) -> bytes:
    """One access-log line (bytes, newline-terminated)."""
    entry = {"ts": _timestamp(time.time()), "level": "info", "msg": "request", "pid": os.getpid()}
    entry.update(fields)
    return orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)
