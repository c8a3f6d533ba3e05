"""The access log: one line per request at info, on logger ``berth.access``. It names the
route template, never the request's path or query string, so no presigned URL's signature,
token or repository-path secret can reach the log through it."""
from __future__ import annotations

import logging

from . import RequestRecord
from .logs import ACCESS

log = logging.getLogger("berth.access")

_LINE = "%s %s %s %d in=%d out=%d %.1fms principal=%s from=%s"


def access_log(record: RequestRecord) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {
        "protocol": record.protocol, "method": record.method, "route": record.route,
        "repository": record.repository, "status": record.status,
        "bytes_in": record.bytes_in, "bytes_out": record.bytes_out,
        "duration_ms": round(record.seconds * 1000, 3),
        "principal_arn": record.principal_arn, "source_ip": record.source_ip,
        "account_id": record.account_id, "region": record.region,
        "request_id": record.request_id,
    }
    log.info(_LINE, record.method, record.route, record.repository or "-", record.status,
             record.bytes_in, record.bytes_out, record.seconds * 1000,
             record.principal_arn or "-", record.source_ip or "-", extra={ACCESS: fields})
