"""A manifest may reference at most ``max_manifest_references`` blobs and manifests (10,000 by
default): one more answers 400 MANIFEST_INVALID and stores nothing (issue 20, item 3)."""
from __future__ import annotations

from .support import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_error,
    canonical,
    descriptor,
)

DEFAULT_LIMIT = 10000
CONFIG = b'{"os":"linux"}'


def _missing(count: int, media_type: str = OCI_LAYER) -> list[dict]:
    return [{"mediaType": media_type, "digest": f"sha256:{i:064x}", "size": 1}
            for i in range(count)]


def test_references_up_to_the_limit_are_looked_up_one_more_is_invalid(oci):
    oci.push_blob("library/app", CONFIG)
    before = oci.snapshot()
    at_limit = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, CONFIG), "layers": _missing(DEFAULT_LIMIT - 1)}
    assert_error(oci.put_manifest("library/app", "v1", canonical(at_limit)), 400,
                 "MANIFEST_BLOB_UNKNOWN")
    over = {**at_limit, "layers": _missing(DEFAULT_LIMIT)}
    resp = oci.put_manifest("library/app", "v1", canonical(over))
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert f"the limit is {DEFAULT_LIMIT}" in resp.text
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": _missing(DEFAULT_LIMIT + 1, OCI_MANIFEST)}
    assert_error(oci.put_manifest("library/app", "v1", canonical(index), OCI_INDEX), 400,
                 "MANIFEST_INVALID")
    assert oci.snapshot() == before
