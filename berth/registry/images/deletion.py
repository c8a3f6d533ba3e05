"""Deleting a manifest or a tag: the one path the OCI DELETE and ECR's BatchDeleteImage take,
so a rule added here holds on both doors."""
from __future__ import annotations

from typing import NamedTuple

from ...events import IMAGE_DELETED, TAG_REMOVED, emit
from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import manifests as manifest_rows
from ...storage.metadata import tags
from ...storage.metadata.database import Database, Tx
from ..errors import DigestInvalid, ManifestReferenced, ManifestUnknown
from ..references import Digest, validate_tag


class Deletion(NamedTuple):
    digest: str
    tags: list[str | None]  # [None] for an untagged image that went
    blobs: list[str]        # what the deleted manifest listed ([] if only a tag went)


class TagDigestMismatch(DigestInvalid):
    """A tag and a digest given together, the tag naming another image."""


def delete_image(tx: Tx, registry_id: int, repo_id: int, repository: str, tag: str | None,
                 digest: str | None, image_with_last_tag: bool = False) -> Deletion:
    """Delete in the caller's transaction, raising before any change if it cannot.

    By tag: the tag alone -- or, with ``image_with_last_tag``, the image too when that was its
    last tag. By digest (with a tag too, the tag must name it): the image and every tag. An
    image an index in the repository lists is refused (ManifestReferenced). Once the
    transaction commits, the caller hands the deletion's blobs to ``start_waits``."""
    if tag is not None:
        tag = validate_tag(tag)
        found = tags.get_digest(tx, repo_id, tag)
        if found is None:
            raise ManifestUnknown(f"tag {tag!r} is unknown to {repository!r}", {"tag": tag})
        if digest is not None and digest != found:
            raise TagDigestMismatch(f"tag {tag!r} names {found}, not {digest}",
                                    {"tag": tag, "digest": digest})
        if digest is None and not (image_with_last_tag and tags.count_for(tx, repo_id, found) == 1):
            tags.remove(tx, repo_id, tag)
            emit(tx, TAG_REMOVED, registry_id, repository, repositoryId=repo_id, tag=tag,
                 digest=found)
            return Deletion(found, [tag], [])
        digest = found
    else:
        digest = str(Digest.parse(digest))
    # Locked before the index check: an index put listing it goes first or after us.
    if manifest_rows.get_for_delete(tx, repo_id, digest) is None and tag is None:
        raise ManifestUnknown(f"manifest {digest} is unknown to {repository!r}",
                              {"digest": digest})
    parent = manifest_rows.parent_of(tx, repo_id, digest)
    if parent is not None:
        raise ManifestReferenced(f"manifest {digest} is listed by index {parent}",
                                 {"digest": digest, "index": parent})
    names = tags.names_for(tx, repo_id, [digest]).get(digest) or [None]
    tags.remove_for_digest(tx, repo_id, digest)
    blobs = manifest_rows.remove(tx, repo_id, digest)
    emit(tx, IMAGE_DELETED, registry_id, repository, repositoryId=repo_id, digest=digest,
         tags=[name for name in names if name], blobs=blobs)
    return Deletion(digest, names, blobs)


def start_waits(db: Database, repo_id: int, blobs: list[str]) -> None:
    """Start the garbage-collection wait of the links no manifest lists any more, from now.
    A transaction of its own, after the deletion's: taking link rows after manifest rows
    would invert the order a manifest put takes them in. (Should this not run, a sweep
    notices the links and starts their wait itself.)"""
    if blobs:
        with db.write() as tx:
            blob_rows.mark_unlisted(tx, repo_id, blobs)


def delete_tree(tx: Tx, registry_id: int, repo_id: int, repository: str,
                digest: str) -> list[Deletion]:
    """An image and what goes with it, in the caller's transaction: the manifests its index
    lists that nothing else keeps (no tag, no other index), and its referrers (signatures,
    SBOMs, attestations), each with what goes with it in turn."""
    children = manifest_rows.child_manifests(tx, repo_id, digest)
    done = [delete_image(tx, registry_id, repo_id, repository, None, digest)]
    for child in children:
        if (manifest_rows.parent_of(tx, repo_id, child) is None
                and tags.count_for(tx, repo_id, child) == 0
                and manifest_rows.get(tx, repo_id, child) is not None):
            done += delete_tree(tx, registry_id, repo_id, repository, child)
    for referrer in manifest_rows.referrers(tx, repo_id, digest, None):
        if (manifest_rows.get(tx, repo_id, referrer.digest) is not None
                and manifest_rows.parent_of(tx, repo_id, referrer.digest) is None):
            done += delete_tree(tx, registry_id, repo_id, repository, referrer.digest)
    return done
