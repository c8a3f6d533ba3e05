"""Images (a repository's manifests and their tags) as the ECR API works with them: listing,
description, batch get and delete, put with ECR's checks. Built over the same tables and
services as the OCI routes, so either door sees what the other did."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import images as rows
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import tags
from ..errors import (
    BlobUnknown,
    DigestInvalid,
    ManifestInvalid,
    ManifestReferenced,
    ManifestUnknown,
    TagInvalid,
)
from ..references import Digest, validate_tag
from ..registry import Registry
from ..repositories.service import require_id
from .deletion import TagDigestMismatch, delete_image, start_waits
from .manifests import DigestMismatch, ImageExists, LayersMissing, accepts

__all__ = ["REASONS", "ImageId", "Failure", "ImageDetail", "ImageNotFound", "MediaTypeMissing",
           "DigestMismatch", "ImageExists", "LayersMissing", "declared_media_type", "check_id",
           "ImageService"]

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
    "ImageInaccessible": "The image is archived: restore it to standard storage to pull it",
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
    status: str = "ACTIVE"              # ACTIVE, ARCHIVED or ACTIVATING
    last_archived_at: float | None = None
    last_activated_at: float | None = None


class ImageNotFound(ManifestUnknown):
    def __init__(self, image_id: ImageId):
        super().__init__(f"image {image_id} not found", {"imageId": image_id})
        self.image_id = image_id


class MediaTypeMissing(ManifestInvalid):
    """Neither the request nor the manifest gives the manifest's media type."""


def declared_media_type(body: bytes) -> str:
    """ECR takes the media type from the manifest when the request gives none; it does not
    infer one from the manifest's shape as an OCI push may."""
    try:
        declared = json.loads(body).get("mediaType")
    except (ValueError, AttributeError, RecursionError):
        raise ManifestInvalid("the image manifest is not a JSON object") from None
    if not isinstance(declared, str) or not declared:
        raise MediaTypeMissing("image manifest mediatype not provided in manifest or parameter")
    return declared


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


def _resolve(tx, repo_id: int, ids: list[ImageId], fetch: Callable[[list[str]], dict[str, Any]]
             ) -> list[tuple[ImageId, Any, Failure | None]]:
    """Each id with the row it names (``fetch``: digests -> {digest: row}), or why it names
    none (with the row when the id's tag names another digest): two queries for all ids."""
    checked = [(i, check_id(i)) for i in ids]
    named = tags.digests_for(tx, repo_id, sorted({i.tag for i, f in checked if not f and i.tag}))
    wanted = [named.get(i.tag) if i.tag else i.digest for i, f in checked if not f]
    found = fetch(sorted({d for d in wanted if d}))
    resolved = []
    for image_id, failure in checked:
        row = None
        if failure is None:
            row = found.get(named.get(image_id.tag) if image_id.tag else image_id.digest)
            if row is None:
                failure = Failure(image_id, "ImageNotFound")
            elif image_id.digest and image_id.digest != row.digest:
                failure = Failure(image_id, "ImageTagDoesNotMatchDigest")
        resolved.append((image_id, row, failure))
    return resolved


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
                 limit: int, image_status: str = "ACTIVE") -> tuple[list[ImageId], bool]:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = rows.id_page(tx, repo_id, status, after, limit + 1, image_status)
        return [ImageId(r.digest, r.tag) for r in found[:limit]], len(found) > limit

    def tagged_at(self, repository: str, names: list[str]) -> dict[str, float]:
        """When each of the tags that exist was set to its image."""
        with self.db.read() as tx:
            return tags.times(tx, require_id(tx, self.registry.registry_id, repository), names)

    def describe_page(self, repository: str, status: str, after: str | None,
                      limit: int, image_status: str = "ACTIVE") -> tuple[list[ImageDetail], bool]:
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = rows.detail_page(tx, repo_id, status, after, limit + 1, image_status)
            page = found[:limit]
            names = tags.names_between(tx, repo_id, page[0].digest,
                                       page[-1].digest) if page else {}
        return _details(page, names), len(found) > limit

    def describe(self, repository: str, ids: list[ImageId]) -> list[ImageDetail]:
        """The images the ids name, each once; the first id naming none raises."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found: dict[str, Any] = {}
            for image_id, row, failure in _resolve(tx, repo_id, ids, lambda digests: {
                    r.digest: r for r in rows.details(tx, repo_id, digests)}):
                if failure is not None:
                    if failure.code == "ImageNotFound":
                        raise ImageNotFound(image_id)
                    raise ManifestInvalid(failure.reason, {"imageId": image_id})
                found.setdefault(row.digest, row)
            rows_found = list(found.values())
            names = tags.names_for(tx, repo_id, [r.digest for r in rows_found])
            return _details(rows_found, names)

    def batch_get(self, repository: str, ids: list[ImageId], accepted: list[str] | None,
                  principal: str | None = None):
        """(images as (ImageId, media type, content), failures); each found image is a pull
        (by ``principal``)."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            resolved = _resolve(tx, repo_id, ids,
                                lambda digests: rows.contents(tx, repo_id, digests))
        images, failures, pulled = [], [], {}
        for image_id, row, failure in resolved:
            if row is not None and not accepts(row.media_type, accepted):
                failure = Failure(image_id, "UnsupportedImageType")
            elif row is not None and row.image_status != "ACTIVE":
                failure = Failure(image_id, "ImageInaccessible")
            if failure is not None:
                failures.append(failure)
                continue
            images.append((ImageId(row.digest, image_id.tag), row.media_type, row.content))
            pulled[row.digest] = row.last_pulled_at
        self.registry.manifests.record_pulls(repo_id, pulled, principal)
        return images, failures

    def layer_referenced(self, repository: str, digest: Digest) -> bool:
        """Whether a manifest lists the blob; BlobUnknown if the repository lacks it."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            if blob_rows.size_in_repository(tx, repo_id, str(digest)) is None:
                raise BlobUnknown(f"blob {digest} is unknown to {repository!r}",
                                  {"digest": str(digest)})
            return blob_rows.referencing_manifest(tx, repo_id, str(digest)) is not None

    def referrers(self, repository: str, subject: str, artifact_types: list[str],
                  after: str | None, limit: int, status: str = "ANY") -> tuple[list, bool]:
        """A page of the manifests whose subject is ``subject`` (of these artifact types, if
        any; of this image status unless ANY) in digest order after ``after``, and whether
        more follow."""
        with self.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            found = manifest_rows.referrers(tx, repo_id, subject, None)
        found = [r for r in found if (not artifact_types or r.artifact_type in artifact_types)
                 and (status == "ANY" or r.image_status == status)
                 and (after is None or r.digest > after)]
        return found[:limit], len(found) > limit

    # -- writes ----------------------------------------------------------------------------
    def put(self, repository: str, body: bytes, media_type: str | None, tag: str | None,
            digest: str | None, pusher: str | None = None) -> tuple[str, str]:
        """Store a manifest (and tag) as ECR's PutImage does: in an existing repository, the
        media type declared, an image already stored (under the tag) refused; returns
        (digest, media type)."""
        result = self.registry.manifests.put(
            repository, tag, body, media_type or declared_media_type(body), digest,
            exclusive=True, create=False, pusher=pusher)
        return str(result.digest), result.media_type

    def batch_delete(self, repository: str, ids: list[ImageId]):
        """(ids deleted, failures), in one transaction. A tag goes alone unless it is the
        image's last: then the image goes too, as by digest (which takes every tag with it)."""
        deleted: list[ImageId] = []
        failures: list[Failure] = []
        blobs: list[str] = []
        with self.db.write() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            for image_id in ids:
                failure = check_id(image_id) or _delete(
                    tx, self.registry.registry_id, repo_id, repository, image_id, deleted,
                    blobs)
                if failure is not None:
                    failures.append(failure)
        start_waits(self.db, repo_id, sorted(set(blobs)))
        return deleted, failures


def _delete(tx, registry_id: int, repo_id: int, repository: str, image_id: ImageId,
            deleted: list[ImageId], blobs: list[str]) -> Failure | None:
    try:
        digest, names, listed = delete_image(tx, registry_id, repo_id, repository,
                                             image_id.tag, image_id.digest,
                                             image_with_last_tag=True)
    except ManifestReferenced as exc:
        return Failure(image_id, "ImageReferencedByManifestList", exc.detail["index"])
    except TagDigestMismatch:
        return Failure(image_id, "ImageTagDoesNotMatchDigest")
    except ManifestUnknown:
        return Failure(image_id, "ImageNotFound")
    deleted.extend(ImageId(digest, name) for name in names)
    blobs.extend(listed)
    return None


def _details(found: list, names: dict[str, list[str]]) -> list[ImageDetail]:
    return [ImageDetail(r.digest, names.get(r.digest, []), r.media_type,
                        r.artifact_type or r.config_media_type, r.total_size, r.pushed_at,
                        r.last_pulled_at, r.subject_digest, r.image_status, r.last_archived_at,
                        r.last_activated_at) for r in found]
