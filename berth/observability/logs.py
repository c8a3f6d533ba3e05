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
ACCESS_LOGGER = "berth.access"


def access_fields(record) -> dict:
    """An access line's fields (a JSON line's, besides the message)."""
    return {"protocol": record.protocol, "method": record.method, "route": record.route,
            "repository": record.repository, "status": record.status,
            "bytes_in": record.bytes_in, "bytes_out": record.bytes_out,
            "duration_ms": round(record.seconds * 1000, 3),
            "principal_arn": record.principal_arn, "source_ip": record.source_ip,
            "account_id": record.account_id, "region": record.region,
            "request_id": record.request_id}


def access_message(record) -> str:
    """An access line's message (what a text line shows after the logger's name)."""
    return (f"{record.method} {record.route} {record.repository or '-'} {record.status} "
            f"in={record.bytes_in} out={record.bytes_out} {record.seconds * 1000:.1f}ms "
            f"principal={record.principal_arn or '-'} from={record.source_ip or '-'}")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled ("" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        record.request_id = rid
        record.request_tag = f" [{rid}]" if rid else ""
        return True


class _Clock:
    """Timestamps with the date part made once per second: strftime per line costs more than
    the rest of an access line."""

    def __init__(self, pattern: str, convert):
        self.pattern, self.convert = pattern, convert
        self.second, self.prefix = -1, ""

    def __call__(self, created: float, separator: str) -> str:
        second = int(created)
        if second != self.second:
            self.second, self.prefix = second, time.strftime(self.pattern, self.convert(second))
        return f"{self.prefix}{separator}{int((created - second) * 1000):03d}"


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, written out by hand (the generic %-style path is slower)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._clock = _Clock("%Y-%m-%d %H:%M:%S", time.localtime)

    def format(self, record: logging.LogRecord) -> str:
        tag = getattr(record, "request_tag", "")
        line = (f"{self._clock(record.created, ',')} {record.levelname} {record.name}{tag}: "
                f"{record.getMessage()}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line

    def access_line(self, created: float, record) -> str:
        """What ``format`` makes of an access line's record (berth.observability.access_log)."""
        rid = record.request_id
        return (f"{self._clock(created, ',')} INFO {ACCESS_LOGGER}{f' [{rid}]' if rid else ''}: "
                f"{access_message(record)}")


class JsonFormatter(logging.Formatter):
    """One object per line: time, level, logger, message and request_id on every line (null
    outside a request), an access line's fields, and a traceback as "exception"."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S", time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._clock(record.created, ".") + "Z",
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

    def access_line(self, created: float, record) -> str:
        """What ``format`` makes of an access line's record (berth.observability.access_log)."""
        return orjson.dumps({"time": self._clock(created, ".") + "Z", "level": "INFO",
                             "logger": ACCESS_LOGGER, "message": access_message(record),
                             "request_id": record.request_id or None, **access_fields(record)},
                            default=str).decode()


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is logged, not as it was when the handler
    was made: a stream replaced since (a test's capture that ended and was closed, a
    redirection) is never written to again. ``setStream`` still fixes another stream."""

    _fixed = None

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr if self._fixed is None else self._fixed

    @stream.setter
    def stream(self, value) -> None:
        self._fixed = None if value is sys.stderr else value


def handler(log_format: str = "text") -> logging.Handler:
    """The stderr handler of Berth's processes, in ``log_format``, stamping request ids."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    made = _StderrHandler()
    made.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    made.addFilter(RequestIdFilter())
    made.berth = True  # type: ignore[attr-defined]  # install() replaces it, not others
    return made


OWN_LOGGERS = ("berth", "uvicorn")


def berth_handler() -> logging.Handler | None:
    """Berth's handler, if it is the one place a ``berth.access`` line goes (no other
    handler on the way: a test's capture sees the lines as records)."""
    handlers = logging.root.handlers
    if len(handlers) != 1 or not getattr(handlers[0], "berth", False):
        return None
    if _ACCESS_LOGGER.handlers or _BERTH_LOGGER.handlers:
        return None
    return handlers[0]


# Looked up once: getLogger takes logging's module lock, on every request otherwise.
_ACCESS_LOGGER = logging.getLogger(ACCESS_LOGGER)
_BERTH_LOGGER = logging.getLogger("berth")


def install(level: str, log_format: str = "text") -> None:
    """Berth's handler on the root logger, replacing one installed before (and leaving any
    other, such as a test's capture)."""
    made = handler(log_format)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "berth", False)]:
        root.removeHandler(old)
    root.addHandler(made)
    # Berth's and uvicorn's lines at the level asked for; libraries' (alembic narrating each
    # migration context, botocore finding credentials) only from warnings up, unless debug.
    level = level.upper()
    root.setLevel(_root_level(level))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    _lean_records()


def _root_level(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level, logging.INFO)
    return number if number <= logging.DEBUG else max(logging.WARNING, number)


def _lean_records() -> None:
    """Records without what no Berth line shows (the caller's file and line, thread and
    process names): finding them cost more than formatting an access line. The logging
    HOWTO's "Optimization" section names these switches."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]


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
        "root": {"level": _root_level(level), "handlers": ["berth"]},
        "loggers": {name: {"level": level, "handlers": [], "propagate": True}
                    for name in (*OWN_LOGGERS, "uvicorn.error", "uvicorn.access")},
    }
