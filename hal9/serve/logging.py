"""Structured JSON logs (stdlib ``logging``) and the request id that ties a request to its job.

The request id lives in a context variable set by the request middleware (and by the job worker for
the job it runs); :class:`JsonFormatter` adds it to every line. Loggers: ``hal9.serve.access`` (one line
per request), ``hal9.serve.jobs``, ``hal9.serve.errors``, ``hal9.serve``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "log_fields",
    "request_id_var",
    "valid_request_id",
]

request_id_var: ContextVar[str | None] = ContextVar("hal9_request_id", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
# (uvicorn's ``color_message`` duplicates the message with terminal colour codes.)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


def valid_request_id(value: str | None) -> str:
    """``value`` if it is a well-formed request id (``[A-Za-z0-9._-]{1,64}``), else a new random one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    """The request id of the request (or job) being handled in this context."""
    return request_id_var.get()


def log_fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a log call: ``fields`` plus the current request id."""
    return {"request_id": current_request_id(), **fields}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line["request_id"] = getattr(record, "request_id", None) or current_request_id()
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send the ``hal9`` loggers (and uvicorn's) to stderr, as JSON lines unless ``json_lines=False``."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    for name in ("hal9", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
