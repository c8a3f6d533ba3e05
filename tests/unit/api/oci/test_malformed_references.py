"""Malformed tags and digests in the path. A pull (GET/HEAD) of one answers 404, the only
failure the distribution spec lists for pulls (its conformance suite pulls the manifest
".INVALID_MANIFEST_NAME" and wants 404): the reference names nothing. Deleting a manifest by
one answers 404 MANIFEST_UNKNOWN, as CNCF Distribution does (its route admits no invalid tag;
a digest-shaped reference it cannot parse is taken as a tag, which is unknown). Pushes keep
TAG_INVALID / DIGEST_INVALID (400), and so does a blob DELETE, as Distribution answers it."""
from __future__ import annotations

import pytest

from .support import assert_error

BLOB = b"a blob"
BAD_TAGS = ["-leading-dash", ".dot", ".INVALID_MANIFEST_NAME", "a" * 129, "with space", "t@g",
            "tag+plus", "ta:g"]
BAD_DIGESTS = ["sha256:abc", "sha256:baddigeststring", "sha256:" + "G" * 64,
               "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha512:" + "a" * 64]
NOT_DIGESTS = BAD_DIGESTS + ["nodigest"]


@pytest.mark.parametrize("reference", BAD_TAGS + BAD_DIGESTS)
def test_pulling_a_malformed_manifest_reference_answers_404_manifest_unknown(oci, reference):
    oci.push_image("library/app", "v1")
    path = f"/v2/library/app/manifests/{reference}"
    assert_error(oci.get(path), 404, "MANIFEST_UNKNOWN")
    head = oci.head(path)
    assert head.status_code == 404 and head.content == b""  # a HEAD answer has no body


@pytest.mark.parametrize("reference", [".dot", "sha256:abc"])
def test_malformed_reference_in_an_unknown_repository_answers_name_unknown(oci, reference):
    assert_error(oci.get(f"/v2/no/such/manifests/{reference}"), 404, "NAME_UNKNOWN")
    assert_error(oci.delete(f"/v2/no/such/manifests/{reference}"), 404, "NAME_UNKNOWN")
    assert_error(oci.get(f"/v2/no/such/blobs/{reference}"), 404, "NAME_UNKNOWN")


@pytest.mark.parametrize("reference", BAD_TAGS + BAD_DIGESTS)
def test_deleting_a_malformed_manifest_reference_answers_404_manifest_unknown(oci, reference):
    image = oci.push_image("library/app", "v1")
    before = oci.snapshot()
    assert_error(oci.delete(f"/v2/library/app/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
    assert oci.snapshot() == before
    assert oci.get("/v2/library/app/manifests/v1").content == image.body


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_pushing_to_a_malformed_digest_still_answers_digest_invalid(oci, digest):
    image = oci.push_image("library/app", None)
    assert_error(oci.put_manifest("library/app", digest, image.body), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", NOT_DIGESTS)
def test_pulling_a_malformed_blob_digest_answers_404_blob_unknown(oci, digest):
    oci.push_blob("library/app", BLOB)
    path = f"/v2/library/app/blobs/{digest}"
    assert_error(oci.get(path), 404, "BLOB_UNKNOWN")
    head = oci.head(path)
    assert head.status_code == 404 and head.content == b""


@pytest.mark.parametrize("digest", NOT_DIGESTS)
def test_deleting_a_malformed_blob_digest_answers_400_digest_invalid(oci, digest):
    oci.push_blob("library/app", BLOB)
    assert_error(oci.delete(f"/v2/library/app/blobs/{digest}"), 400, "DIGEST_INVALID")
