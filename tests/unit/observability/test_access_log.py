"""The access log: one info line per request, with the route template, never the path."""
from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest

from berth.observability import RequestRecord
from berth.observability import access_log as access_log_module
from berth.observability.access_log import access_log
from berth.observability.logs import ACCESS, handler

RECORD = RequestRecord(
    protocol="oci", route="/v2/{name:path}/blobs/{digest}", method="GET", status=200,
    bytes_in=0, bytes_out=1234, seconds=0.0042, request_id="rid-1", source_ip="10.0.0.9",
    principal_arn="arn:aws:iam::123456789012:user/ci", account_id="123456789012",
    region="us-east-1", repository="team/web")


def test_one_info_line_with_every_field(caplog):
    with caplog.at_level(logging.INFO, logger="berth.access"):
        access_log(RECORD)
    [line] = caplog.records
    assert line.name == "berth.access" and line.levelno == logging.INFO
    assert line.getMessage() == (
        "GET /v2/{name:path}/blobs/{digest} team/web 200 in=0 out=1234 4.2ms "
        "principal=arn:aws:iam::123456789012:user/ci from=10.0.0.9")
    fields = getattr(line, ACCESS)
    assert fields["request_id"] == "rid-1" and fields["repository"] == "team/web"
    assert fields["duration_ms"] == 4.2 and fields["bytes_out"] == 1234
    assert fields["principal_arn"] == RECORD.principal_arn


def test_nothing_when_info_is_off(caplog):
    with caplog.at_level(logging.WARNING, logger="berth.access"):
        access_log(RECORD)
    assert not caplog.records


# -- under Berth's own handler: formatted as it would, written in batches ------------------

@pytest.fixture
def berth_only(monkeypatch):
    """Berth's handler alone on the root logger, into a buffer; ``berth.access`` at info."""
    def install(log_format: str) -> io.StringIO:
        made = handler(log_format)
        buffer = io.StringIO()
        made.setStream(buffer)
        monkeypatch.setattr(logging.root, "handlers", [made])
        return buffer
    access = logging.getLogger("berth.access")
    level = access.level
    access.setLevel(logging.INFO)
    yield install
    access_log_module.flush()
    access.setLevel(level)


def test_a_line_waits_in_memory_and_is_written_as_the_handler_writes_it(berth_only):
    buffer = berth_only("text")
    access_log(RECORD)
    assert buffer.getvalue() == ""  # not on the request's path
    access_log_module.flush()
    [line] = buffer.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO berth\.access \[rid-1\]: GET "
        r"/v2/\{name:path\}/blobs/\{digest\} team/web 200 in=0 out=1234 4\.2ms "
        r"principal=arn:aws:iam::123456789012:user/ci from=10\.0\.0\.9", line), line


def test_a_json_line_has_the_fields_of_every_json_line(berth_only):
    buffer = berth_only("json")
    access_log(RECORD)
    access_log_module.flush()
    [line] = buffer.getvalue().splitlines()
    found = json.loads(line)
    assert {k: found[k] for k in ("level", "logger", "request_id", "route", "bytes_out",
                                  "duration_ms", "principal_arn")} == {
        "level": "INFO", "logger": "berth.access", "request_id": "rid-1",
        "route": RECORD.route, "bytes_out": 1234, "duration_ms": 4.2,
        "principal_arn": RECORD.principal_arn}
    assert found["message"].startswith("GET /v2/{name:path}/blobs/{digest} team/web 200")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", found["time"])


def test_the_lines_are_written_within_a_moment_without_being_asked(berth_only):
    buffer = berth_only("text")
    for _ in range(3):
        access_log(RECORD)
    deadline = time.monotonic() + 5
    while len(buffer.getvalue().splitlines()) < 3:
        assert time.monotonic() < deadline, "the access log's thread wrote nothing"
        time.sleep(0.01)
