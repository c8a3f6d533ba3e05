"""Manifests and tags: put (with validation against the repository), get, delete."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ...concurrency import blocking, quick_read
from ...events import IMAGE_PUSHED, emit
from ...observability import metrics
from ...quotas import services as quotas
from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import tags
from ...storage.metadata.database import Database
from ..errors import (
    DigestInvalid,
    ImageArchived,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestNotAcceptable,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    RegistryError,
    TagImmutable,
)
from ..references import Digest, is_digest, validate_tag, well_formed
from ..repositories.encryption import Encryption
from ..repositories.creation import open_for_push
from ..repositories.service import require_id
from ..repositories.settings import tag_mutability
from .deletion import delete_image, start_waits
from .format import ParsedManifest, parse_manifest
from .pull_exclusions import PullTimeExclusions
from .pulls import pull_log


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    size: int
    content: bytes | None


@dataclass(frozen=True)
class PutResult:
    digest: Digest
    subject: Digest | None
    created: bool
    media_type: str


class DigestMismatch(DigestInvalid):
    """The request names a digest the manifest does not have."""

    def __init__(self, given: str, actual: str):
        super().__init__(f"manifest digest {actual} does not match {given}", {"digest": given})
        self.given, self.actual = given, actual


class ImageExists(RegistryError):
    """An exclusive put of an image already stored (under the tag)."""


class LayersMissing(ManifestBlobUnknown):
    """Blobs (or, for an index, child manifests) the manifest lists that are not there."""

    def __init__(self, digests: list[str], children: bool):
        super().__init__(f"{'manifest' if children else 'blob'} {digests[0]} is not in the "
                         "repository", {"digest": digests[0]})
        self.digests = digests
        self.children = children


# What a manifest may reference at most (berth.config's max_manifest_references).
DEFAULT_MAX_REFERENCES = 10000


def accepts(media_type: str, accepted: list[str] | None) -> bool:
    if not accepted:
        return True
    major = media_type.split("/", 1)[0] + "/*"
    return any(a in (media_type, "*/*", major) for a in accepted)


class ManifestService:
    def __init__(self, db: Database, registry_id: int, max_bytes: int = 4 * 1024 * 1024,
                 pull_record_interval: float = 3600.0, encryption: Encryption = Encryption(),
                 max_references: int = DEFAULT_MAX_REFERENCES):
        self.db = db
        self.registry_id = registry_id
        self.max_bytes = max_bytes
        self.max_references = max_references  # blobs and manifests a manifest may list
        self.pull_record_interval = pull_record_interval
        self.pulls = pull_log(db)  # writes the pull times; a failed write never fails a pull
        self.pull_exclusions = PullTimeExclusions(db, registry_id)
        self.encryption = encryption  # the key of a repository a manifest push creates

    # -- read ------------------------------------------------------------------------------
    async def fetch(self, repository: str, reference: str, accepted: list[str] | None = None,
                    with_content: bool = True, record_pull: bool = False,
                    principal: str | None = None) -> StoredManifest:
        """A manifest by tag or digest, recording the pull (by ``principal``) at a coarse
        interval."""
        found, repo_id, last_pulled = await quick_read(
            self.db.inline_reads, self._find, repository, reference, accepted, with_content)
        if record_pull and self._pull_is_stale(
                self.pulls.latest(repo_id, found.digest, last_pulled)):
            await blocking(self._record_pulls, repo_id, [found.digest], principal)
        return found

    def _find(self, repository: str, reference: str, accepted: list[str] | None,
              with_content: bool) -> tuple[StoredManifest, int, float | None]:
        # A malformed reference names no manifest: 404 MANIFEST_UNKNOWN (NAME_UNKNOWN for an
        # unknown repository), the spec's only failure of a pull; TAG_INVALID is for pushes.
        # It is looked up as the empty tag, which no manifest has.
        valid = well_formed(reference)
        row = manifest_rows.lookup(self.db, self.registry_id, repository,
                                   reference if valid else "",
                                   not (valid and is_digest(reference)), with_content)
        if row is None:
            raise NameUnknown(f"repository {repository!r} is not known to the registry",
                              {"name": repository})
        if row.digest is None:
            raise ManifestUnknown(f"manifest {reference!r} is unknown to {repository!r}",
                                  {"reference": reference})
        if row.image_status != "ACTIVE":
            raise ImageArchived(f"manifest {reference!r} of {repository!r} is archived "
                                f"({row.image_status}): restore it to standard storage to "
                                "pull it", {"reference": reference})
        if not accepts(row.media_type, accepted):
            raise ManifestNotAcceptable(
                f"manifest {reference!r} is {row.media_type}, which the client does not accept",
                {"mediaType": row.media_type})
        found = StoredManifest(row.digest, row.media_type, row.size,
                               row.content if with_content else None)
        return found, row.repository_id, row.last_pulled_at

    def _pull_is_stale(self, last_pulled_at: float | None) -> bool:
        return last_pulled_at is None or last_pulled_at < time.time() - self.pull_record_interval

    def record_pulls(self, repo_id: int, last_pulled: dict[str, float | None],
                     principal: str | None = None) -> None:
        """Record pulls of several manifests (digest -> when a pull was last recorded) in one
        write, those recorded within the interval skipped."""
        stale = [d for d, last in last_pulled.items()
                 if self._pull_is_stale(self.pulls.latest(repo_id, d, last))]
        if stale:
            self._record_pulls(repo_id, stale, principal)

    def _record_pulls(self, repo_id: int, digests: list[str], principal: str | None) -> None:
        # A write per pull would serialise pulls; like ECR, record at a coarse interval.
        if not self.pull_exclusions.excludes(principal):
            self.pulls.record(repo_id, digests, time.time(), self.pull_record_interval)

    # -- write -----------------------------------------------------------------------------
    def put(self, repository: str, reference: str | None, body: bytes,
            content_type: str | None, digest: str | None = None, *, exclusive: bool = False,
            create: bool = True, may_create: bool = True,
            pusher: str | None = None) -> PutResult:
        """Store a manifest under a tag or digest reference (None: its own digest). ``digest``
        is one a tagged put says the manifest has; ``exclusive`` refuses, with ImageExists, an
        image already stored (under the tag); ``create=False`` needs an existing repository,
        else a push may make it (creation.open_for_push: ``may_create`` is the pusher's
        leave). ``pusher``: the access key id of the client pushing (None for Berth's own
        pushes), which the push event carries (managed signing asks whether it may sign)."""
        if len(body) > self.max_bytes:
            raise ManifestTooLarge(f"manifest is {len(body)} bytes, the limit is {self.max_bytes}")
        tag = None if reference is None or is_digest(reference) else validate_tag(reference)
        given = digest or (None if tag else reference)
        wanted = Digest.parse(given) if given else None
        actual = Digest.of(body, wanted.algorithm if wanted else "sha256")
        if wanted and actual != wanted:
            raise DigestMismatch(str(wanted), str(actual))
        # Counted before anything is looked up: a refusal costs no statement.
        parsed = parse_manifest(body, content_type, self.max_references)
        with self.db.write() as tx:
            repo_id = (open_for_push(tx, self.registry_id, repository, self.encryption,
                                     may_create)[0] if create
                       else require_id(tx, self.registry_id, repository))
            current = tags.get_digest(tx, repo_id, tag) if tag else None
            if exclusive and (current == str(actual) if tag
                              else manifest_rows.get(tx, repo_id, str(actual))):
                raise ImageExists(f"{actual} is already {tag or 'stored'}",
                                  {"digest": str(actual), "tag": tag})
            total = self._check_references(tx, repo_id, parsed) + len(body)
            created = manifest_rows.insert_new(tx, _row(repo_id, actual, parsed, body, total),
                                               _references(parsed))
            if created:
                quotas.check_images(tx, self.registry_id, repo_id, repository)
            else:
                _restore_if_archived(tx, repo_id, str(actual))
            if tag:
                _check_mutable(tx, repo_id, repository, tag, current, str(actual))
                tags.put(tx, repo_id, tag, str(actual))
                if current != str(actual):
                    quotas.check_tags(tx, self.registry_id, repo_id, repository, str(actual))
            if created or (tag and current != str(actual)):
                emit(tx, IMAGE_PUSHED, self.registry_id, repository, repositoryId=repo_id,
                     digest=str(actual), mediaType=parsed.media_type,
                     artifactType=parsed.effective_artifact_type, tag=tag, previous=current,
                     subject=str(parsed.subject.digest) if parsed.subject else None,
                     created=created, pusher=pusher)
        metrics.image_pushed(created, parsed.is_index,
                             "" if not tag or current == str(actual) else
                             "moved" if current else "created")
        return PutResult(actual, parsed.subject.digest if parsed.subject else None, created,
                         parsed.media_type)

    def _check_references(self, tx, repo_id: int, parsed: ParsedManifest) -> int:
        """Every blob and child manifest must be in the repository with the size its
        descriptor gives; returns the total size of what the manifest references."""
        if parsed.is_index:
            wanted = sorted({str(d.digest) for d in parsed.children})
            # Held: deleting a child waits for this index, which it then finds listing it.
            found = manifest_rows.sizes(tx, repo_id, wanted, hold=True) if wanted else {}
            _require(wanted, found, children=True)
            _check_sizes(parsed.children, {d: sizes[0] for d, sizes in found.items()})
            return sum(total for _, total in found.values())
        local = [d for d in (parsed.config, *parsed.layers) if not d.foreign]
        wanted = sorted({str(d.digest) for d in local})
        # Held: a collector or a blob delete unlinking them goes before, or waits for us.
        found = blob_rows.hold_links(tx, repo_id, wanted) if wanted else {}
        _require(wanted, found, children=False)
        _check_sizes(local, found)
        return sum(found.values())

    async def put_async(self, repository: str, reference: str | None, body: bytes,
                        content_type: str | None, *, may_create: bool,
                        pusher: str | None) -> PutResult:
        return await blocking(self.put, repository, reference, body, content_type,
                              may_create=may_create, pusher=pusher)

    async def delete_async(self, repository: str, reference: str) -> None:
        await blocking(self.delete, repository, reference)

    def delete(self, repository: str, reference: str) -> None:
        """A tag alone, or by digest the image with its tags (``image_deletion``)."""
        by_digest = is_digest(reference)
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry_id, repository)
            if not well_formed(reference):  # names nothing: 404, as CNCF Distribution answers
                raise ManifestUnknown(f"manifest {reference!r} is unknown to {repository!r}",
                                      {"reference": reference})
            deletion = delete_image(tx, self.registry_id, repo_id, repository,
                                    None if by_digest else reference,
                                    reference if by_digest else None)
        start_waits(self.db, repo_id, deletion.blobs)


def _check_mutable(tx, repo_id: int, repository: str, tag: str, current: str | None,
                   digest: str) -> None:
    """Moving an existing tag (naming ``current``) to another image is refused where the tag
    is immutable; re-putting the image it names is not a change."""
    if current in (None, digest):
        return
    if tag_mutability(tx, repo_id).is_immutable(tag):
        raise TagImmutable(f"tag {tag!r} of {repository!r} is immutable and names another "
                           "image", {"tag": tag, "digest": current})


def _require(wanted: list[str], found: dict, children: bool) -> None:
    """Every missing reference at once (ECR lists them all; OCI names the first)."""
    missing = [d for d in wanted if d not in found]
    if missing:
        raise LayersMissing(missing, children)


def _check_sizes(descriptors, sizes: dict[str, int]) -> None:
    for d in descriptors:
        actual = sizes[str(d.digest)]
        if actual != d.size:
            raise ManifestInvalid(f"descriptor of {d.digest} says {d.size} bytes, the "
                                  f"content has {actual}", {"digest": str(d.digest)})


def _references(parsed: ParsedManifest) -> list[tuple[str, str]]:
    if parsed.is_index:
        return [(str(d.digest), "manifest") for d in parsed.children]
    return [(str(d.digest), "blob") for d in (parsed.config, *parsed.layers) if not d.foreign]


def _row(repo_id: int, digest: Digest, parsed: ParsedManifest, body: bytes, total: int) -> dict:
    return {
        "repository_id": repo_id, "digest": str(digest), "media_type": parsed.media_type,
        "artifact_type": parsed.effective_artifact_type,
        "subject_digest": str(parsed.subject.digest) if parsed.subject else None,
        "config_digest": str(parsed.config.digest) if parsed.config else None,
        "config_media_type": parsed.config.media_type if parsed.config else None,
        "size": len(body), "total_size": total,
        "annotations": json.dumps(parsed.annotations) if parsed.annotations else None,
        "content": body, "pushed_at": time.time(),
    }


def _restore_if_archived(tx, repo_id: int, digest: str) -> None:
    """Pushing an archived image again restores it (with what was archived with it), at
    once: its blobs never left."""
    if manifest_rows.image_status(tx, repo_id, digest) in ("ARCHIVED", "ACTIVATING"):
        from .storage_class import restore_now  # it builds on this module's service

        restore_now(tx, repo_id, digest, time.time())
