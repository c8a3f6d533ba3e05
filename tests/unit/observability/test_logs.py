"""Log lines as text or JSON, each stamped with the id of the request it belongs to."""
from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from berth.observability import logs
from berth.observability.context import request_id_var


@pytest.fixture
def captured():
    """A logger writing through Berth's handler into a buffer."""
    def make(log_format: str):
        buffer = io.StringIO()
        handler = logs.handler(log_format)
        handler.setStream(buffer)
        logger = logging.getLogger(f"berth.test.{log_format}")
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.DEBUG)
        return logger, buffer
    return make


def _json_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_have_the_same_fields_inside_and_outside_a_request(captured):
    logger, buffer = captured("json")
    logger.info("outside %s", "any request")
    token = request_id_var.set("req-1")
    try:
        logger.warning("inside")
    finally:
        request_id_var.reset(token)
    outside, inside = _json_lines(buffer)
    assert set(outside) == set(inside) == {"time", "level", "logger", "message", "request_id"}
    assert outside["message"] == "outside any request" and outside["request_id"] is None
    assert inside["request_id"] == "req-1" and inside["level"] == "WARNING"
    assert inside["logger"] == "berth.test.json" and inside["time"].endswith("Z")


def test_json_carries_access_fields_and_tracebacks_on_one_line(captured):
    logger, buffer = captured("json")
    logger.info("GET", extra={logs.ACCESS: {"status": 200, "route": "/v2/"}})
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logger.exception("failed")
    assert len(buffer.getvalue().splitlines()) == 2
    access, failed = _json_lines(buffer)
    assert access["status"] == 200 and access["route"] == "/v2/"
    assert "ValueError: boom" in failed["exception"]


def test_text_lines_tag_the_request_id(captured):
    logger, buffer = captured("text")
    logger.info("outside")
    token = request_id_var.set("req-2")
    try:
        logger.info("inside")
    finally:
        request_id_var.reset(token)
    outside, inside = buffer.getvalue().splitlines()
    assert outside.endswith(" INFO berth.test.text: outside")
    assert inside.endswith(" INFO berth.test.text [req-2]: inside")


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="json"):
        logs.handler("xml")
    with pytest.raises(ValueError):
        logs.logging_config("info", "yaml")


def test_install_replaces_its_own_handler_only():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        logs.install("warning", "text")
        logs.install("info", "json")
        ours = [h for h in root.handlers if getattr(h, "berth", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.JsonFormatter)
        assert other in root.handlers and logging.getLogger("berth").level == logging.INFO
        assert root.level == logging.WARNING  # libraries' info lines stay out
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        logging.getLogger("berth").setLevel(logging.NOTSET)


def test_libraries_speak_from_warnings_up_unless_debug(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.install("info", "text")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("berth.test").info("ours")
        err = capsys.readouterr().err
        assert "ours" in err and "SQLiteImpl" not in err
        logs.install("debug", "text")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        assert "SQLiteImpl" in capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        for name in logs.OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_uvicorns_loggers_go_through_berths_handler(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(logs.logging_config("info", "json"))
        logging.getLogger("uvicorn.error").info("Uvicorn running")
        line = json.loads(capsys.readouterr().err.splitlines()[-1])
        assert line["logger"] == "uvicorn.error" and line["message"] == "Uvicorn running"
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_lines_go_to_stderr_as_it_is_then(monkeypatch):
    """A server made while a test captured stderr logs on after that capture was closed: its
    lines go to the stderr of the moment, with no 'I/O operation on closed file' error."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    handler = logs.handler("text")
    logger = logging.getLogger("berth.test.stderr")
    logger.handlers, logger.propagate = [handler], False
    logger.warning("one")
    first.close()
    monkeypatch.setattr("sys.stderr", second)
    logger.warning("two")
    assert "two" in second.getvalue() and "Logging error" not in second.getvalue()
