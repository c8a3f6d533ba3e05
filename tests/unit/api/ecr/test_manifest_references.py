"""PutImage of a manifest referencing more blobs than ``max_manifest_references`` (10,000 by
default) is refused as ECR refuses an invalid manifest: InvalidParameterException."""
from __future__ import annotations

import json

import pytest

from tests.unit.api.ecr.support import error_of, repo_fixture, server_fixture

server = server_fixture("ecr-manifest-references")
repo = repo_fixture("refs/")


def test_put_image_over_the_reference_limit(server, repo):
    client = server.client()
    doc = json.loads(server.manifest(repo, b"refs"))
    doc["layers"] = [{"mediaType": doc["layers"][0]["mediaType"], "size": 1,
                      "digest": f"sha256:{i:064x}"} for i in range(10000)]
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_image(repositoryName=repo, imageTag="big", imageManifest=json.dumps(doc))
    assert "the limit is 10000" in error_of(caught)[1]
    doc["layers"].pop()  # at the limit: the layers are looked up, and missing
    with pytest.raises(client.exceptions.LayersNotFoundException):
        client.put_image(repositoryName=repo, imageTag="big", imageManifest=json.dumps(doc))
    assert client.list_images(repositoryName=repo)["imageIds"] == []
