"""Images (a repository's manifests and their tags) as the ECR API works with them: listing,
description, batch get and delete, put with ECR's checks. Built over the same tables and
services as the OCI routes, so either door sees what the other did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..storage.metadata import blobs as blob_rows
from ..storage.metadata import images as rows
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import tags
from .concurrency import blocking
from .errors import (BlobUnknown, DigestInvalid, ManifestInvalid, ManifestNotAcceptable,
                     ManifestUnknown, RegistryError, TagInvalid)
from .manifest_format import parse_manifest
from .references import Digest, validate_tag
from .registry import Registry
from .repositories import require_id

# ECR's failure codes (ImageFailureCode) and reasons, which ids that fail are answered with.
REASONS = {
    "MissingDigestAndTag": "Invalid request parameters: both tag and digest cannot be null",
    "InvalidImageDigest": "Invalid request parameters: image digest should satisfy the regex "
                          "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
    "InvalidImageTag": "Invalid request parameters: image tag should satisfy the regex "
                       "'[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'",
    "ImageTagDoesNotMatchDigest": "Invalid request parameters: given tag and digest do not match",
    "ImageNotFound": "Requested image not found",
    "UnsupportedImageType": "The image manifest media type is not among the accepted types",
}


@dataclass(frozen=True)
class ImageId:
    digest: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Failure:
    image_id: ImageId
    code: str
    parent: str | None = None  # the index that lists it (ImageReferencedByManifestList)

    @property
    def reason(self) -> str:
        if self.parent:
            return f"Requested image referenced by manifest list: [{self.parent}]"
        return REASONS[self.code]


class ImageDetail(NamedTuple):
    digest: str
    tags: list[str]
    media_type: str
    artifact_type: str | None
    total_size: int
    pushed_at: float
    last_pulled_at: float | None
    subject: str | None


class ImageNotFound(ManifestUnknown):
    def __init__(self, image_id: ImageId):
        super().__init__(f"image {image_id} not found", {"imageId": image_id})
        self.image_id = image_id


class ImageExists(RegistryError):
    code = "DENIED"


class DigestMismatch(DigestInvalid):
    pass


class LayersMissing(RegistryError):
    """Blobs (or, for an index, child manifests) the manifest lists that are not there."""
    code = "MANIFEST_BLOB_UNKNOWN"

    def __init__(self, digests: list[str], children: bool):
        super().__init__(f"missing: {', '.join(digests)}", {"digests": digests})
        self.digests = digests
        self.children = children


def check_id(image_id: ImageId) -> Failure | None:
    """ECR's per-id validation, answered as a failure rather than an error."""
    if not image_id.digest and not image_id.tag:
        return Failure(image_id, "MissingDigestAndTag")
    try:
        if image_id.digest:
            Digest.parse(image_id.digest)
        if image_id.tag:
            validate_tag(image_id.tag)
    except (DigestInvalid, TagInvalid) as exc:
        bad = "InvalidImageDigest" if isinstance(exc, DigestInvalid) else "InvalidImageTag"
        return Failure(image_id, bad)
    return None


def _lookup(tx, repo_id: int, image_id: ImageId) -> tuple[str | None, Failure | None]:
    """The digest an id names, or why it names none."""
    failure = check_id(image_id)
    if failure is not None:
        return None, failure
    digest = (tags.get_digest(tx, repo_id, image_id.tag) if image_id.tag
              else image_id.digest if manifest_rows.get(tx, repo_id, image_id.digest) else None)
    if digest is None:
        return None, Failure(image_id, "ImageNotFound")
    if image_id.digest and image_id.digest != digest:
        return None, Failure(image_id, "ImageTagDoesNotMatchDigest")
    return digest, None


class ImageService:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.db = registry.db

    def exists(self, repository: str) -> None:
        """Raise NameUnknown unless the repository exists."""
        with self.db.read() as tx:
            require_id(tx, self.registry.registry_id, repository)

    # -- reads -----------------------------------------------------------------------------
    def list_ids(self, repository: str, status: str, after: tuple[str, str] | None,
                 limit: int) -> tuple[list[ImageId], bool]:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = rows.id_page(tx, repo_id, status, after, limit + 1)
        return [ImageId(r.digest, r.tag) for r in found[:limit]], len(found) > limit

    def describe_page(self, repository: str, status: str, after: str | None,
                      limit: int) -> tuple[list[ImageDetail], bool]:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = rows.detail_page(tx, repo_id, status, after, limit + 1)
            details = _details(tx, repo_id, found[:limit])
        return details, len(found) > limit

    def describe(self, repository: str, ids: list[ImageId]) -> list[ImageDetail]:
        """The images the ids name, each once; the first id naming none raises."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            digests: list[str] = []
            for image_id in ids:
                digest, failure = _lookup(tx, repo_id, image_id)
                if failure is not None:
                    if failure.code == "ImageNotFound":
                        raise ImageNotFound(image_id)
                    raise ManifestInvalid(failure.reason, {"imageId": image_id})
                if digest not in digests:
                    digests.append(digest)
            found = {r.digest: r for r in rows.details(tx, repo_id, digests)}
            return _details(tx, repo_id, [found[d] for d in digests])

    async def batch_get(self, repository: str, ids: list[ImageId],
                        accepted: list[str] | None):
        """(images as (ImageId, media type, content), failures); each found image is a pull."""
        await blocking(self.exists, repository)
        images, failures = [], []
        for image_id in ids:
            failure = check_id(image_id)
            if failure is None:
                try:
                    found = await self.registry.manifests.fetch(
                        repository, image_id.tag or image_id.digest, accepted,
                        record_pull=True)
                except ManifestUnknown as exc:
                    failure = Failure(image_id, "UnsupportedImageType" if isinstance(
                        exc, ManifestNotAcceptable) else "ImageNotFound")
                else:
                    if image_id.digest and image_id.digest != found.digest:
                        failure = Failure(image_id, "ImageTagDoesNotMatchDigest")
                    else:
                        images.append((ImageId(found.digest, image_id.tag), found.media_type,
                                       found.content))
            if failure is not None:
                failures.append(failure)
        return images, failures

    def layer_referenced(self, repository: str, digest: Digest) -> bool:
        """Whether a manifest lists the blob; BlobUnknown if the repository lacks it."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            if blob_rows.size_in_repository(tx, repo_id, str(digest)) is None:
                raise BlobUnknown(f"blob {digest} is unknown to {repository!r}")
            return blob_rows.referencing_manifest(tx, repo_id, str(digest)) is not None

    def referrers(self, repository: str, subject: str, artifact_types: list[str]) -> list:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = manifest_rows.referrers(tx, repo_id, subject, None)
        return [r for r in found if not artifact_types or r.artifact_type in artifact_types]

    # -- writes ----------------------------------------------------------------------------
    def put(self, repository: str, body: bytes, media_type: str, tag: str | None,
            digest: str | None) -> tuple[str, str]:
        """Store a manifest (and tag) as ECR's PutImage does; returns (digest, media type)."""
        parsed = parse_manifest(body, media_type)
        wanted = Digest.parse(digest) if digest else None
        actual = str(Digest.of(body, wanted.algorithm if wanted else "sha256"))
        if wanted and str(wanted) != actual:
            raise DigestMismatch(f"{wanted} is not the manifest's digest {actual}",
                                 {"digest": actual, "given": str(wanted)})
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            current = (tags.get_digest(tx, repo_id, validate_tag(tag)) if tag
                       else actual if manifest_rows.get(tx, repo_id, actual) else None)
            if current == actual:
                raise ImageExists(f"{actual} is already {tag or 'stored'}",
                                  {"digest": actual, "tag": tag})
            _require_references(tx, repo_id, parsed)
        self.registry.manifests.put(repository, tag or actual, body, parsed.media_type)
        return actual, parsed.media_type

    def batch_delete(self, repository: str, ids: list[ImageId]):
        """(ids deleted, failures). A tag goes alone unless it is the image's last: then
        the image goes too, as by digest (which takes every tag with it)."""
        deleted, failures = [], []
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            for image_id in ids:
                digest, failure = _lookup(tx, repo_id, image_id)
                if failure is None:
                    failure = _delete(tx, repo_id, image_id, digest, deleted)
                if failure is not None:
                    failures.append(failure)
        return deleted, failures


def _delete(tx, repo_id: int, image_id: ImageId, digest: str, deleted: list) -> Failure | None:
    if not image_id.digest and rows.tag_count(tx, repo_id, digest) > 1:
        tags.remove(tx, repo_id, image_id.tag)
        deleted.append(ImageId(digest, image_id.tag))
        return None
    parent = manifest_rows.parent_of(tx, repo_id, digest)
    if parent is not None:
        return Failure(image_id, "ImageReferencedByManifestList", parent)
    names = rows.tags_of(tx, repo_id, [digest]).get(digest) or [None]
    tags.remove_for_digest(tx, repo_id, digest)
    manifest_rows.remove(tx, repo_id, digest)
    deleted.extend(ImageId(digest, name) for name in names)
    return None


def _details(tx, repo_id: int, found: list) -> list[ImageDetail]:
    names = rows.tags_of(tx, repo_id, [r.digest for r in found])
    return [ImageDetail(r.digest, names.get(r.digest, []), r.media_type,
                        r.artifact_type or r.config_media_type, r.total_size, r.pushed_at,
                        r.last_pulled_at, r.subject_digest) for r in found]


def _require_references(tx, repo_id: int, parsed) -> None:
    """All missing references at once, for ECR's message (the put checks again, atomically)."""
    if parsed.is_index:
        wanted = sorted({str(d.digest) for d in parsed.children})
        found = manifest_rows.sizes(tx, repo_id, wanted) if wanted else {}
    else:
        local = [d for d in (parsed.config, *parsed.layers) if not d.foreign]
        wanted = sorted({str(d.digest) for d in local})
        found = blob_rows.sizes_in_repository(tx, repo_id, wanted) if wanted else {}
    missing = [d for d in wanted if d not in found]
    if missing:
        raise LayersMissing(missing, parsed.is_index)
