"""One source of truth: what skopeo pushes over OCI, the ECR API describes (size, push time);
what PutImage stores, skopeo pulls; a GetDownloadUrlForLayer URL serves the layer bytes."""
from __future__ import annotations

import json
import time

import pytest
import requests

from tests.support.berth_server import ecr_client, ecr_key, put_image
from tests.support.oci_layout import OciLayout, build_image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ecr(registry, e2e_target):
    return ecr_client(registry.url, ecr_key(registry, e2e_target))


def test_a_skopeo_push_is_described_by_the_ecr_api(registry, skopeo, ecr, tmp_path):
    ecr.create_repository(repositoryName="ecr-images/pushed")
    image = build_image([{"hello.txt": b"hello from skopeo\n"}])
    layout = OciLayout(tmp_path / "layout").write(image.blobs, {"v1": image.manifest})
    before = time.time()
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{registry.ref('ecr-images/pushed', 'v1')}",
                "--preserve-digests")
    [detail] = ecr.describe_images(repositoryName="ecr-images/pushed")["imageDetails"]
    assert detail["imageDigest"] == image.manifest.digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == sum(b.size for b in image.blobs)
    assert before - 1 <= detail["imagePushedAt"].timestamp() <= time.time() + 1
    layer = image.layers[0]
    url = ecr.get_download_url_for_layer(repositoryName="ecr-images/pushed",
                                         layerDigest=layer.digest)["downloadUrl"]
    assert requests.get(url, timeout=30).content == layer.data


def test_put_image_then_pull_with_skopeo(registry, skopeo, ecr, tmp_path):
    repo = "ecr-images/put"
    ecr.create_repository(repositoryName=repo)
    image = build_image([{"put.txt": b"stored through PutImage\n"}])
    put_image(ecr, repo, image, "v1")
    raw = skopeo.inspect_raw(f"docker://{registry.ref(repo, 'v1')}")
    assert raw == image.manifest.data
    out = OciLayout(tmp_path / "out")
    skopeo.copy(f"docker://{registry.ref(repo, 'v1')}", f"oci:{out.path}:v1",
                "--preserve-digests")
    index = json.loads((out.path / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest.digest
