"""ImageService: ECR's view of images over the registry's manifests and tags."""
from __future__ import annotations

import json

import pytest

from berth.registry.errors import NameUnknown
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.images.service import (
    ImageExists,
    ImageId,
    ImageNotFound,
    ImageService,
    LayersMissing,
)
from berth.registry.references import Digest


def _manifest(registry, repository: str, layer: bytes) -> bytes:
    config = b'{"os":"linux"}'
    for data in (config, layer):
        registry.uploads.put_small(repository, Digest.of(data), data)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": str(Digest.of(config)), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": str(Digest.of(layer)), "size": len(layer)}]}
                      ).encode()


@pytest.fixture
def images(registry):
    registry.uploads.put_small("team/app", Digest.of(b"seed"), b"seed")  # makes the repository
    return ImageService(registry)


def test_put_list_describe(registry, images):
    body = _manifest(registry, "team/app", b"l1")
    digest, media_type = images.put("team/app", body, None, "v1", None)
    assert media_type == OCI_MANIFEST
    with pytest.raises(ImageExists):
        images.put("team/app", body, None, "v1", None)
    images.put("team/app", body, None, "v2", digest)
    ids, more = images.list_ids("team/app", "ANY", None, 1)
    assert ids == [ImageId(digest, "v1")] and more
    ids, more = images.list_ids("team/app", "ANY", (digest, "v1"), 10)
    assert ids == [ImageId(digest, "v2")] and not more
    [detail] = images.describe("team/app", [ImageId(tag="v2"), ImageId(digest=digest)])
    assert detail.tags == ["v1", "v2"] and detail.total_size == len(body) + 2 + 14
    with pytest.raises(ImageNotFound):
        images.describe("team/app", [ImageId(tag="v3")])


def test_put_reports_every_missing_layer(registry, images):
    doc = json.loads(_manifest(registry, "team/app", b"l2"))
    doc["layers"] = [dict(doc["layers"][0], digest="sha256:" + c * 64) for c in "ab"]
    with pytest.raises(LayersMissing) as caught:
        images.put("team/app", json.dumps(doc).encode(), OCI_MANIFEST, None, None)
    assert caught.value.digests == ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    with pytest.raises(NameUnknown):
        images.put("team/none", json.dumps(doc).encode(), OCI_MANIFEST, None, None)


def test_delete_by_last_tag_deletes_the_image(registry, images):
    digest, _ = images.put("team/app", _manifest(registry, "team/app", b"l3"), None, "a", None)
    images.put("team/app", _manifest(registry, "team/app", b"l3"), None, "b", None)
    deleted, failures = images.batch_delete("team/app", [ImageId(tag="a")])
    assert deleted == [ImageId(digest, "a")] and not failures
    deleted, _ = images.batch_delete("team/app", [ImageId(tag="b")])
    assert deleted == [ImageId(digest, "b")]
    assert images.list_ids("team/app", "ANY", None, 10) == ([], False)
    _, failures = images.batch_delete("team/app", [ImageId(digest=digest), ImageId()])
    assert [f.code for f in failures] == ["ImageNotFound", "MissingDigestAndTag"]


def test_batch_get_records_pulls(registry, images):
    digest, _ = images.put("team/app", _manifest(registry, "team/app", b"l4"), None, "v", None)
    got, failures = images.batch_get("team/app", [ImageId(tag="v")], None)
    assert got[0][0] == ImageId(digest, "v") and not failures
    [detail] = images.describe("team/app", [ImageId(digest=digest)])
    assert detail.last_pulled_at is not None
