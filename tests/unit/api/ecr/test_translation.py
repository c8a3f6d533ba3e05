"""The error table's words are ECR's own where ECR's are known: each case below is a text seen
in a real ECR answer (aws CLI, SDK and docker output quoted in public issues) or, where noted,
as moto copies it."""
from __future__ import annotations

import pytest

from berth.api.ecr.translation import Where, translate
from berth.lifecycle import errors as lifecycle
from berth.registry import errors as e
from berth.registry.images.manifests import ImageExists, LayersMissing
from berth.registry.images.service import ImageId, ImageNotFound

ACCOUNT, REPO = "123456789012", "team/web"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def _where(operation: str, **params) -> Where:
    return Where(operation, ACCOUNT, REPO, params)


CASES = [
    # many CLI transcripts
    ("DescribeRepositories", e.NameUnknown("x"), "RepositoryNotFoundException",
     f"The repository with name '{REPO}' does not exist in the registry with id '{ACCOUNT}'"),
    # metaps/genova#164
    ("CreateRepository", e.RepositoryExists("x"), "RepositoryAlreadyExistsException",
     f"The repository with name '{REPO}' already exists in the registry with id '{ACCOUNT}'"),
    # moto's RepositoryNotEmptyException
    ("DeleteRepository", e.RepositoryNotEmpty("x"), "RepositoryNotEmptyException",
     f"The repository with name '{REPO}' in registry with id '{ACCOUNT}' cannot be deleted "
     "because it still contains images"),
    # iann0036/former2#16
    ("GetLifecyclePolicy", lifecycle.PolicyNotFound("x"), "LifecyclePolicyNotFoundException",
     f"Lifecycle policy does not exist for the repository with name '{REPO}' in the registry "
     f"with id '{ACCOUNT}'"),
    # hashicorp/terraform-provider-aws#35268
    ("BatchGetImage", ImageNotFound(ImageId(tag="latest")), "ImageNotFoundException",
     "The image with imageId {imageDigest:'null', imageTag:'latest'} does not exist within the "
     f"repository with name '{REPO}' in the registry with id '{ACCOUNT}'"),
    # aws/containers-roadmap#862, moby/buildkit#3776 (docker relays it)
    ("PutImage", e.TagImmutable("x", {"tag": "v1", "digest": D1}),
     "ImageTagAlreadyExistsException",
     f"The image tag 'v1' already exists in the '{REPO}' repository and cannot be overwritten "
     "because the repository is immutable."),
    # buildkite-plugins/ecr-buildkite-plugin#111
    ("PutImage", ImageExists("x", {"digest": D1, "tag": "canary"}), "ImageAlreadyExistsException",
     f"Image with digest '{D1}' and tag 'canary' already exists in the repository with name "
     f"'{REPO}' in registry with id '{ACCOUNT}'"),
    # mapbox/ecs-conex#50
    ("PutImage", LayersMissing([D1, D2], children=False), "LayersNotFoundException",
     f"Layers with digests '[{D1}, {D2}]' required for pushing image into repository with name "
     f"'{REPO}' in the registry with id '{ACCOUNT}' do not exist"),
    # int128/docker-manifest-create-action#63
    ("PutImage", LayersMissing([D1, D2], children=True), "ReferencedImagesNotFoundException",
     f"Images with digests '[{D1}, {D2}]' required for pushing image into repository with name "
     f"'{REPO}' in the registry with id '{ACCOUNT}' do not exist"),
    # monken/aws-ecr-public#11
    ("GetDownloadUrlForLayer", e.BlobUnknown("x", {"digest": D1}), "LayersNotFoundException",
     f"The layer with digest {D1} does not exist within the repository with name '{REPO}' in "
     f"the registry with id '{ACCOUNT}'"),
]


@pytest.mark.parametrize("operation, exc, code, message", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_ecrs_exact_words(operation, exc, code, message):
    error = translate(exc, _where(operation))
    assert (error.code, error.message) == (code, message)

