"""Seeing what happens: one record per HTTP request, built once by the request middleware
and handed to every observer the app factory registers (the access log, Prometheus metrics,
data-transfer usage). Observers are called on the event loop after the response is sent, so
they must be cheap and must never raise into the request."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RequestRecord:
    protocol: str            # "oci", "ecr", "admin", "health", "metrics", "other"
    route: str               # the route template (/v2/{name}/manifests/{reference}), or the
                             # AWS JSON operation name (DescribeImages): bounded cardinality
    method: str
    status: int
    bytes_in: int            # request body bytes received
    bytes_out: int           # response body bytes sent
    seconds: float           # from the request's first byte to its last response byte
    request_id: str
    source_ip: str
    principal_arn: str = ""  # the authenticated caller, if any
    account_id: str = ""     # the registry's account the request addressed, if any
    region: str = ""
    repository: str = ""     # the repository the request addressed, if any
    user_agent: str = ""
    error_code: str = ""     # the protocol's error code of an error answer (OCI or AWS)
    parameters: dict | None = None  # an AWS JSON request's parameters (the audit trail's)
    # Bytes the storage sends for this answer instead of Berth (a blob GET redirected to S3
    # with a 307): pulled from the registry all the same.
    redirected_bytes: int = 0


Observer = Callable[[RequestRecord], None]
