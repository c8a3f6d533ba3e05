"""Log lines: text for a terminal (the default) or one JSON object per line. Every line logged
while a request is handled carries its id (a filter reads the context variable when the line
is made). Uvicorn's loggers go through the same handler, so a server's whole log has one
format."""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from .context import request_id_var

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
# Fields an access line adds (RequestRecord's, as the access log passes them in ``extra``).
ACCESS = "access"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled ("" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        record.request_id = rid
        record.request_tag = f" [{rid}]" if rid else ""
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_tag"):  # a handler without the filter
            record.request_tag = ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One object per line: time, level, logger, message and request_id on every line (null
    outside a request), an access line's fields, and a traceback as "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        fields = getattr(record, ACCESS, None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def _iso_time(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def handler(log_format: str = "text") -> logging.Handler:
    """The stderr handler of Berth's processes, in ``log_format``, stamping request ids."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    made = logging.StreamHandler(sys.stderr)
    made.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    made.addFilter(RequestIdFilter())
    made.berth = True  # type: ignore[attr-defined]  # install() replaces it, not others
    return made


def install(level: str, log_format: str = "text") -> None:
    """Berth's handler on the root logger, replacing one installed before (and leaving any
    other, such as a test's capture)."""
    made = handler(log_format)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "berth", False)]:
        root.removeHandler(old)
    root.addHandler(made)
    root.setLevel(level.upper())


def logging_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """The same as a logging.config.dictConfig, for uvicorn's log_config (which it applies in
    every worker process): uvicorn's loggers propagate to Berth's handler."""
    handler(log_format)  # refuses an unknown format here, before any process starts
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"berth": {"()": "berth.observability.logs.handler",
                               "log_format": log_format}},
        "root": {"level": level, "handlers": ["berth"]},
        "loggers": {name: {"level": level, "handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
