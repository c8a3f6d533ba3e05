"""An audit event from a request's record: its name (an ECR API operation, or for the
registry API the operation ECR's CloudTrail names for what docker does), whether it only
reads, the repository it touched, and its parameters without secrets or bulk."""
from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from ..observability import RequestRecord
from ..iam.tenancy import PUBLIC, RegistryAddress

ECR_SOURCE, ADMIN_SOURCE = "ecr.amazonaws.com", "berth.admin"
CONSOLE_AGENT = "berth-console"
_NAME = "/v2/{name:path}"
# (route, method) -> the event name, as ECR records docker's and containerd's requests.
REGISTRY_EVENTS = {
    (_NAME + "/manifests/{reference}", "GET"): "BatchGetImage",
    (_NAME + "/manifests/{reference}", "HEAD"): "BatchGetImage",
    (_NAME + "/manifests/{reference}", "PUT"): "PutImage",
    (_NAME + "/manifests/{reference}", "DELETE"): "BatchDeleteImage",
    (_NAME + "/blobs/{digest}", "GET"): "GetDownloadUrlForLayer",
    (_NAME + "/blobs/{digest}", "HEAD"): "BatchCheckLayerAvailability",
    (_NAME + "/blobs/{digest}", "DELETE"): "DeleteLayer",
    (_NAME + "/blobs/uploads/", "POST"): "InitiateLayerUpload",
    (_NAME + "/blobs/uploads/{uuid}", "GET"): "GetLayerUploadStatus",
    (_NAME + "/blobs/uploads/{uuid}", "PATCH"): "UploadLayerPart",
    (_NAME + "/blobs/uploads/{uuid}", "PUT"): "CompleteLayerUpload",
    (_NAME + "/blobs/uploads/{uuid}", "DELETE"): "CancelLayerUpload",
    (_NAME + "/tags/list", "GET"): "ListImages",
    (_NAME + "/referrers/{digest}", "GET"): "ListImageReferrers",
    ("/v2/_catalog", "GET"): "DescribeRepositories",
}
_READS = ("Describe", "List", "Get", "BatchGet", "BatchCheck", "Lookup", "Preview")
# Parameters never recorded: bulk (a layer part, a manifest) and anything secret.
_LEFT_OUT = {"layerPartBlob", "imageManifest", "CertificateChain", "TrustStores"}
_SECRET_WORDS = ("secret", "password", "privatekey")
_SECRET_KEYS = {"token", "sessiontoken", "securitytoken", "authorizationtoken", "credentials"}
MAX_VALUE = 2048       # characters of one parameter's value kept
MAX_PARAMETERS = 8192  # ... of all of them


def name_of(record: RequestRecord) -> str | None:
    """The event's name, or None for what is not audited (health, metrics, the /v2/ ping)."""
    if record.protocol in ("ecr", "admin", "console"):
        return record.route if record.route != "-" else None
    if record.protocol == "oci":
        found = REGISTRY_EVENTS.get((record.route, record.method))
        if found is None and record.method == "HEAD":  # Starlette answers HEAD on GET routes
            found = REGISTRY_EVENTS.get((record.route, "GET"))
        return found
    return None


def read_only(name: str) -> bool:
    return name.startswith(_READS)


def repository_arn(region: str, account_id: str, repository: str) -> str:
    if not repository or not account_id:  # an anonymous request at a plain host: no registry
        return ""
    return RegistryAddress(account_id, region).repository_arn(repository)


def _user_agent(record: RequestRecord) -> str:
    """The client's; the console's changes say so first (CloudTrail's console events do)."""
    if record.protocol == "console":
        return f"{CONSOLE_AGENT} ({record.user_agent})"[:256]
    return record.user_agent[:256]


def _source(record: RequestRecord) -> str:
    if record.protocol == "admin":
        return ADMIN_SOURCE
    return "ecr-public.amazonaws.com" if record.region == PUBLIC else ECR_SOURCE


def parameters(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    kept = {k: _shortened(v) for k, v in params.items()
            if k not in _LEFT_OUT and k.lower() not in _SECRET_KEYS
            and not any(w in k.lower() for w in _SECRET_WORDS)}
    text = json.dumps(kept, default=str, separators=(",", ":"))
    if len(text) > MAX_PARAMETERS:  # still valid JSON: which parameters there were
        text = json.dumps({"truncated": True, "parameters": sorted(kept)[:50]})
    return text


def _shortened(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= MAX_VALUE:
        return value
    return f"{text[:MAX_VALUE]}... ({len(text)} characters)"


def event_id() -> str:
    """A random (version 4) UUID without a system call per event, as uuid4 would make."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def from_request(record: RequestRecord, when: float | None = None) -> dict | None:
    """The audit row of a request answered at ``when`` (now), or None if not audited."""
    name = name_of(record)
    if name is None:
        return None
    return {"event_id": event_id(), "time": time.time() if when is None else when,
            "account_id": record.account_id, "region": record.region,
            "source": _source(record),
            "name": name, "read_only": read_only(name),
            "principal_arn": record.principal_arn[:256], "source_ip": record.source_ip[:64],
            "user_agent": _user_agent(record),
            "resource": repository_arn(record.region, record.account_id, record.repository),
            "parameters": parameters(record.parameters),
            "error_code": record.error_code or None, "request_id": record.request_id[:128]}
