"""How an import into the cache ended, as an event (``pullthrough.synced``; ECR's "ECR Pull
Through Cache Action"): SUCCESS once the image is stored, FAILED once the import's last
attempt failed, with a failure code and reason. ECR documents no list of failure codes: these
are Berth's, one per kind of failure the upstream client tells apart."""
from __future__ import annotations

from dataclasses import dataclass

from ..events import PULLTHROUGH_SYNCED, emit
from ..registry.images.manifests import LayersMissing
from ..storage.metadata import pullthrough as rows
from ..storage.metadata.database import Tx
from .errors import CredentialUnusable
from .rules import Rule
from .upstream import UpstreamError

SUCCESS, FAILED = "SUCCESS", "FAILED"
RULE_GONE, REPOSITORY_GONE = "PULL_THROUGH_CACHE_RULE_NOT_FOUND", "REPOSITORY_NOT_FOUND"
MAX_REASON = 500
_UPSTREAM_CODES = {"not_found": "UPSTREAM_IMAGE_NOT_FOUND", "denied": "UPSTREAM_ACCESS_DENIED",
                   "rate_limited": "UPSTREAM_THROTTLED", "unavailable": "UPSTREAM_UNAVAILABLE",
                   "invalid": "UPSTREAM_INVALID_RESPONSE"}


class Dropped(Exception):
    """An import with nothing left to import into: its rule or its repository was deleted
    after the pull that staged it. It fails at once (running it again would change nothing)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Origin:
    """What the event names of the rule that staged the import."""
    prefix: str
    upstream_url: str


def failure(exc: BaseException) -> tuple[str, str]:
    """(failure code, reason) of what made an import fail."""
    if isinstance(exc, Dropped):
        code = exc.code
    elif isinstance(exc, UpstreamError):
        code = _UPSTREAM_CODES.get(exc.code, "UPSTREAM_ERROR")
    elif isinstance(exc, CredentialUnusable):
        code = "UPSTREAM_CREDENTIALS_UNUSABLE"
    elif isinstance(exc, LayersMissing):
        code = "IMAGE_INCOMPLETE"  # nested deeper than an index's images, or lost meanwhile
    else:
        code = "INTERNAL_ERROR"
    text = str(getattr(exc, "message", None) or exc)
    return code, (text.splitlines()[0] if text else type(exc).__name__)[:MAX_REASON]


def synced(tx: Tx, registry_id: int, rule: Rule | Origin, repository: str, digest: str,
           tag: str | None, status: str, failed: BaseException | None = None) -> None:
    """The import's event, in ``tx`` -- only while the manifest is still pending, so an import
    that a concurrent one finished first (or that is run again) tells nothing twice."""
    pending = rows.ref(tx, registry_id, repository, digest)
    if pending is None or pending.content is None:
        return
    payload = {"digest": digest, "tag": tag, "ecrRepositoryPrefix": rule.prefix,
               "upstreamRegistryUrl": rule.upstream_url, "status": status}
    if failed is not None:
        payload["failureCode"], payload["failureReason"] = failure(failed)
    emit(tx, PULLTHROUGH_SYNCED, registry_id, repository, **payload)
