"""Managed signing's state: which images are signed with which profile, and how that went
(IN_PROGRESS, COMPLETE, FAILED with a code and reason), as DescribeImageSigningStatus shows
it; and the request made, in the push's subscriber transaction, for each profile whose rule
matches the repository."""
from __future__ import annotations

from dataclasses import dataclass

from ..jobs.queue import JobQueue
from ..registry.images.service import ImageId
from ..registry.images.storage_class import resolve_digest
from ..registry.repositories.service import require_id
from ..storage.metadata import signing as rows
from ..storage.metadata.database import Database, Tx
from .configuration import SigningConfigurations

SIGN_JOB = "sign-image"
IN_PROGRESS, COMPLETE, FAILED = "IN_PROGRESS", "COMPLETE", "FAILED"


@dataclass(frozen=True)
class SigningStatus:
    profile_arn: str
    status: str
    failure_code: str | None
    failure_reason: str | None
    signature_digest: str | None

    def to_json(self) -> dict:
        found = {"signingProfileArn": self.profile_arn, "status": self.status}
        if self.status == FAILED:
            found["failureCode"] = self.failure_code
            found["failureReason"] = self.failure_reason
        return found


def request(tx: Tx, queue: JobQueue, registry_id: int, repo_id: int, repository: str,
            digest: str, profile_arn: str, now: float, pusher: str | None = None) -> None:
    """The image's signing with the profile is IN_PROGRESS, and its job queued."""
    rows.put_status(tx, repo_id, digest, profile_arn, IN_PROGRESS, now)
    queue.enqueue(SIGN_JOB, {"registryId": registry_id, "repositoryId": repo_id,
                             "repository": repository, "digest": digest,
                             "profileArn": profile_arn, "pusher": pusher}, tx=tx)


class SigningService:
    def __init__(self, db: Database, registry_id: int):
        self.db, self.registry_id = db, registry_id
        self.configuration = SigningConfigurations(db, registry_id)

    def statuses(self, repository: str, image_id: ImageId) -> tuple[str, list[SigningStatus]]:
        """The image's digest, and its status per signing profile (none if no rule matched
        when it was pushed)."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            digest = resolve_digest(tx, repo_id, image_id)
            return digest, [SigningStatus(r.profile_arn, r.status, r.failure_code,
                                          r.failure_reason, r.signature_digest)
                            for r in rows.statuses(tx, repo_id, digest)]
