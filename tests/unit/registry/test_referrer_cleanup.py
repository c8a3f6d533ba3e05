"""Referrers go with their subject (berth/registry/images/referrers.py): after an image is
deleted, the outbox's delivery deletes what names it (and what names that in turn); a
subject pushed again keeps them; a referrer an index lists stays; a referrer pushed before
any subject is not touched."""
from __future__ import annotations

import asyncio
import json

from berth.events import Outbox
from berth.registry.images import referrers
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.references import Digest
from tests.support.registry_images import image_manifest, push_image

REPO = "team/app"
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def _referrer(registry, subject: str, kind: str) -> str:
    """An artifact (an SBOM, a signature...) naming ``subject``; its digest."""
    registry.uploads.put_small(REPO, Digest.of(EMPTY), EMPTY)
    empty = {"mediaType": EMPTY_TYPE, "digest": str(Digest.of(EMPTY)), "size": 2}
    return str(registry.manifests.put(REPO, None, json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
        "config": empty, "layers": [empty],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 10}}).encode(),
        OCI_MANIFEST).digest)


def _deliver(registry) -> None:
    Outbox(registry.db).deliver(referrers.subscriber())


def _digests(registry) -> set[str]:
    ids, _ = registry.images.list_ids(REPO, "ANY", None, 1000)
    return {i.digest for i in ids}


def _delete(registry, digest: str) -> None:
    registry.manifests.delete(REPO, digest)


def test_a_deleted_subject_takes_its_referrers_and_theirs(registry):
    subject = str(push_image(registry, REPO, "v1", b"subject"))
    other = str(push_image(registry, REPO, "v2", b"another image"))
    sbom = _referrer(registry, subject, "application/spdx+json")
    signature_of_sbom = _referrer(registry, sbom, "application/vnd.cncf.notary.signature")
    kept = _referrer(registry, other, "application/spdx+json")
    _delete(registry, subject)
    assert _digests(registry) == {other, sbom, signature_of_sbom, kept}  # not at once
    _deliver(registry)
    assert _digests(registry) == {other, kept}  # the SBOM, with what signed it


def test_a_subject_pushed_again_keeps_its_referrers(registry):
    body = image_manifest(registry, REPO, b"pushed twice")
    subject = str(registry.manifests.put(REPO, "v1", body, OCI_MANIFEST).digest)
    sbom = _referrer(registry, subject, "application/spdx+json")
    _delete(registry, subject)
    registry.manifests.put(REPO, "v1", body, OCI_MANIFEST)
    _deliver(registry)
    assert _digests(registry) == {subject, sbom}


def test_a_referrer_an_index_lists_stays(registry):
    subject = str(push_image(registry, REPO, "v1", b"subject of a listed referrer"))
    listed = _referrer(registry, subject, "application/spdx+json")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": listed, "size": _size(registry, listed)}]})
    index_digest = str(registry.manifests.put(REPO, "bundle", index.encode(),
                                              OCI_INDEX).digest)
    _delete(registry, subject)
    _deliver(registry)
    assert _digests(registry) == {listed, index_digest}


def test_a_tagged_referrer_stays(registry):
    subject = str(push_image(registry, REPO, "v1", b"subject of a tagged referrer"))
    named = _referrer(registry, subject, "application/spdx+json")
    body = asyncio.run(registry.manifests.fetch(REPO, named)).content
    registry.manifests.put(REPO, "sbom-v1", body, OCI_MANIFEST)
    _delete(registry, subject)
    _deliver(registry)
    assert _digests(registry) == {named}


def test_a_referrer_whose_subject_never_existed_is_left(registry):
    push_image(registry, REPO, "v1", b"unrelated")
    early = _referrer(registry, "sha256:" + "a" * 64, "application/spdx+json")
    other = str(push_image(registry, REPO, "v2", b"deleted, unrelated"))
    _delete(registry, other)
    _deliver(registry)
    assert early in _digests(registry)


def _size(registry, digest: str) -> int:
    return asyncio.run(registry.manifests.fetch(REPO, digest)).size
