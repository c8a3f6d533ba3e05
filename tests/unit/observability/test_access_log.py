"""The access log: one info line per request, with the route template, never the path."""
from __future__ import annotations

import logging

from berth.observability import RequestRecord
from berth.observability.access_log import access_log
from berth.observability.logs import ACCESS

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
