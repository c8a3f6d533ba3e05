"""An image's storage class, as ECR's archive has it: ACTIVE images are pulled; ARCHIVED ones
are listed and described but not pulled; restoring one goes through ACTIVATING (a job) back
to ACTIVE. Lifecycle transitions and UpdateImageStorageClass both come through here.

An image moves with what belongs to it: the manifests its index lists (unless tagged
themselves or listed by another index) and its referrers. A manifest an index lists does not
move on its own. Blobs stay where they are, so an image sharing layers with an archived one
is never made unpullable (moving archived blobs to colder storage is not built yet)."""
from __future__ import annotations

import time

from ...jobs.queue import JobQueue
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import tags
from ...storage.metadata.database import Database, Tx
from ..errors import RegistryError
from ..references import Digest, validate_tag
from ..repositories.service import require_id
from .service import ImageId, ImageNotFound

ACTIVE, ARCHIVED, ACTIVATING = "ACTIVE", "ARCHIVED", "ACTIVATING"
STANDARD, ARCHIVE = "STANDARD", "ARCHIVE"
RESTORE_JOB = "image-restore"


class StorageClassUpdateUnsupported(RegistryError):
    code = "STORAGE_CLASS_UPDATE_UNSUPPORTED"


def members(tx: Tx, repo_id: int, digest: str, restoring: bool = False) -> list[str]:
    """The image and what moves with it. Restoring, every child comes back, whatever tag or
    index it gained since it was archived (only ARCHIVED ones change): else nothing could
    restore a child an index pushed since lists."""
    found = [digest]
    for child in manifest_rows.child_manifests(tx, repo_id, digest):
        if restoring or (tags.count_for(tx, repo_id, child) == 0
                         and _only_parent(tx, repo_id, child, digest)):
            found += members(tx, repo_id, child, restoring)
    for referrer in manifest_rows.referrers(tx, repo_id, digest, None):
        found += members(tx, repo_id, referrer.digest, restoring)
    return found


def _only_parent(tx: Tx, repo_id: int, child: str, parent: str) -> bool:
    return all(p == parent for p in manifest_rows.parents_of(tx, repo_id, child))


def archive_image(tx: Tx, repo_id: int, digest: str, now: float) -> list[str]:
    """Archive an ACTIVE image with its members; returns the digests archived."""
    moving = members(tx, repo_id, digest)
    manifest_rows.archive(tx, repo_id, moving, now)
    return moving


def restore_now(tx: Tx, repo_id: int, digest: str, now: float) -> list[str]:
    """ARCHIVED (or ACTIVATING) -> ACTIVE at once, with the members archived with it."""
    found = members(tx, repo_id, digest, restoring=True)
    manifest_rows.start_restore(tx, repo_id, found)
    manifest_rows.activate(tx, repo_id, found, now)
    return found


class ImageStorage:
    def __init__(self, db: Database, registry_id: int, queue: JobQueue | None = None):
        self.db = db
        self.registry_id = registry_id
        self.queue = queue or JobQueue(db)

    def update(self, repository: str, image_id: ImageId, target: str) -> tuple[str, str]:
        """Move the image to ``target`` (STANDARD or ARCHIVE); returns (its digest, its status
        now): ARCHIVED at once, ACTIVATING until the restore job has run."""
        now = time.time()
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            digest = resolve_digest(tx, repo_id, image_id)
            status = manifest_rows.image_status(tx, repo_id, digest)
            if manifest_rows.parent_of(tx, repo_id, digest) is not None:
                raise StorageClassUpdateUnsupported(
                    f"image {digest} is listed by an index: it moves with its index",
                    {"digest": digest})
            if target == ARCHIVE and status == ACTIVE:
                archive_image(tx, repo_id, digest, now)
                return digest, ARCHIVED
            if target == STANDARD and status == ARCHIVED:
                found = members(tx, repo_id, digest, restoring=True)
                states = manifest_rows.states(tx, repo_id, found)
                moving = [d for d in found if states.get(d, ("",))[0] == ARCHIVED]
                manifest_rows.start_restore(tx, repo_id, moving)
                self.queue.enqueue(RESTORE_JOB, {"repositoryId": repo_id, "digests": moving},
                                   tx=tx)
                return digest, ACTIVATING
            if target == ARCHIVE and status == ACTIVATING:
                raise StorageClassUpdateUnsupported(
                    f"image {digest} is being restored: archive it once it is active",
                    {"digest": digest})
            return digest, status  # already where it was asked to go

    def restore(self, repo_id: int, digests: list[str]) -> int:
        """The restore job: what is ACTIVATING becomes ACTIVE."""
        with self.db.write() as tx:
            return manifest_rows.activate(tx, repo_id, digests, time.time())


def resolve_digest(tx: Tx, repo_id: int, image_id: ImageId) -> str:
    """The digest an image id names in the repository; ImageNotFound if none (or if its tag
    names another digest)."""
    if image_id.tag:
        found = tags.get_digest(tx, repo_id, validate_tag(image_id.tag))
        if found is None or (image_id.digest and image_id.digest != found):
            raise ImageNotFound(image_id)
        return found
    if not image_id.digest:
        raise ImageNotFound(image_id)
    digest = str(Digest.parse(image_id.digest))
    if manifest_rows.image_status(tx, repo_id, digest) is None:
        raise ImageNotFound(image_id)
    return digest
