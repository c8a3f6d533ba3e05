"""Paging past ECR's page limits on a real server: 1,100 images in one repository (more than the
1,000 a single ListImages/DescribeImages page may hold) are each returned exactly once by the
aws CLI's automatic paging and by boto3's paginators; so are 120 repositories by the
DescribeRepositories paginator."""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest
import requests

from tests.support.berth_server import ecr_client, ecr_key
from tests.support.ecr_login import aws_cli
from tests.support.oci_push import OCI_MANIFEST, digest_of, push_blob

pytestmark = pytest.mark.e2e

REPO = "paging/many"
IMAGES = 1100
TAGGED = 1000  # the rest are pushed by digest only, untagged
REPOSITORIES = 120
PREFIX = "paging/repo-"


@pytest.fixture(scope="module")
def key(registry, e2e_target):
    return ecr_key(registry, e2e_target)


@pytest.fixture(scope="module")
def ecr(registry, key):
    return ecr_client(registry.url, key)


def _manifest(config: bytes, layer: bytes, n: int) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer), "size": len(layer)}],
        "annotations": {"org.example.n": str(n)},
    }).encode()


@pytest.fixture(scope="module")
def many(registry, ecr) -> dict[str, str | None]:
    """digest -> tag (None: untagged) of the 1,100 images pushed over HTTP into REPO."""
    ecr.create_repository(repositoryName=REPO)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"the one layer all the paging images share\n"
    pushed: dict[str, str | None] = {}
    with requests.Session() as session:
        session.auth = registry.auth
        push_blob(session, registry.url, REPO, config)
        push_blob(session, registry.url, REPO, layer)
        for n in range(IMAGES):
            manifest = _manifest(config, layer, n)
            digest = digest_of(manifest)
            tag = f"t{n:04d}" if n < TAGGED else None
            r = session.put(f"{registry.url}/v2/{REPO}/manifests/{tag or digest}", data=manifest,
                            headers={"Content-Type": OCI_MANIFEST}, timeout=60)
            assert r.status_code == 201, r.text
            pushed[digest] = tag
    assert len(pushed) == IMAGES
    return pushed


def _aws(registry, key, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(key.env())
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", registry.url,
                           "--region", "us-east-1", "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _once(ids: list[str]) -> set[str]:
    twice = [d for d, count in Counter(ids).items() if count > 1]
    assert twice == [], f"{len(twice)} returned more than once, e.g. {twice[:3]}"
    return set(ids)


def test_one_page_cannot_hold_them_all(many, ecr):
    first = ecr.list_images(repositoryName=REPO)
    assert first.get("nextToken") and len(first["imageIds"]) < IMAGES
    first = ecr.describe_images(repositoryName=REPO, maxResults=1000)
    assert first.get("nextToken") and len(first["imageDetails"]) == 1000


def test_aws_cli_list_images_pages_through_each_image_once(many, registry, key):
    ids = _aws(registry, key, "list-images", "--repository-name", REPO,
               "--page-size", "100")["imageIds"]
    assert _once([i["imageDigest"] for i in ids]) == set(many)
    assert {i["imageDigest"]: i.get("imageTag") for i in ids} == many


def test_aws_cli_describe_images_pages_through_each_image_once(many, registry, key):
    details = _aws(registry, key, "describe-images", "--repository-name", REPO,
                   "--page-size", "100")["imageDetails"]
    assert _once([d["imageDigest"] for d in details]) == set(many)
    for d in details:
        tag = many[d["imageDigest"]]
        assert d.get("imageTags", []) == ([tag] if tag else []), d


def test_boto3_paginators_page_through_each_image_once(many, ecr):
    pages = list(ecr.get_paginator("list_images").paginate(
        repositoryName=REPO, PaginationConfig={"PageSize": 100}))
    assert len(pages) == 11 and all(len(p["imageIds"]) <= 100 for p in pages)
    assert _once([i["imageDigest"] for p in pages for i in p["imageIds"]]) == set(many)

    pages = list(ecr.get_paginator("describe_images").paginate(
        repositoryName=REPO, PaginationConfig={"PageSize": 100}))
    assert len(pages) == 11
    assert _once([d["imageDigest"] for p in pages for d in p["imageDetails"]]) == set(many)

    tagged = list(ecr.get_paginator("list_images").paginate(
        repositoryName=REPO, filter={"tagStatus": "TAGGED"}, PaginationConfig={"PageSize": 300}))
    assert _once([i["imageDigest"] for p in tagged for i in p["imageIds"]]) \
        == {d for d, t in many.items() if t}


def test_boto3_paginator_pages_through_each_repository_once(registry, ecr):
    names = [f"{PREFIX}{n:03d}" for n in range(REPOSITORIES)]
    for name in names:
        ecr.create_repository(repositoryName=name)
    pages = list(ecr.get_paginator("describe_repositories").paginate(
        PaginationConfig={"PageSize": 25}))
    assert len(pages) >= REPOSITORIES // 25
    assert all(len(p["repositories"]) <= 25 for p in pages)
    seen = [r["repositoryName"] for p in pages for r in p["repositories"]]
    assert len(seen) == len(set(seen)), [n for n, c in Counter(seen).items() if c > 1]
    assert sorted(n for n in seen if n.startswith(PREFIX)) == names
