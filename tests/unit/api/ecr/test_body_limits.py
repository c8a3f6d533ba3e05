"""Request bodies are bounded per operation by what its model allows, and a body full of
violations costs one value's checks, not one per value."""
from __future__ import annotations

import base64
import json

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from berth.api.ecr import body_limits, make_endpoint, model, validation

from .test_endpoint import TARGET, Fake


def _body(params) -> bytes:
    return json.dumps(params).encode()


@pytest.mark.parametrize("operation, params", [
    ("UploadLayerPart", {"repositoryName": "r" * 256, "uploadId": "u" * 64,
                         "partFirstByte": 0, "partLastByte": 20 * 1024 * 1024 - 1,
                         "layerPartBlob": base64.b64encode(b"\0" * 20 * 1024 * 1024).decode()}),
    ("PutImage", {"repositoryName": "r" * 256, "imageTag": "t" * 300,
                  "imageManifest": '{"a": "\\u00e9"}' * (4 * 1024 * 1024 // 16)}),
    ("DescribeRepositories", {"registryId": "1" * 12, "maxResults": 1000,
                              "repositoryNames": ["n" * 256] * 100}),
    ("BatchGetImage", {"repositoryName": "r" * 256, "imageIds": [
        {"imageDigest": "sha256:" + "a" * 64, "imageTag": "t" * 300}] * 100,
        "acceptedMediaTypes": ["application/vnd.oci.image.manifest.v1+json"] * 100}),
])
def test_the_largest_valid_bodies_fit(operation, params):
    assert len(_body(params)) <= body_limits.max_body_bytes(operation)


def test_bounds_are_far_below_the_old_global_limit():
    sizes = {name: body_limits.max_body_bytes(name) for name in model.operation_names()}
    assert sizes["DescribeRepositories"] < 256 * 1024
    assert sizes["GetAuthorizationToken"] < 256 * 1024
    assert max(size for name, size in sizes.items()
               if name != "UploadLayerPart") <= body_limits.CEILING
    assert sizes["UploadLayerPart"] < 32 * 1024 * 1024


def test_a_body_past_the_operation_bound_is_refused_before_it_is_read():
    fake = Fake()
    route = make_endpoint({"DescribeRepositories": fake.describe_repositories},
                          fake.authenticate)
    with TestClient(Starlette(routes=[route])) as client:
        huge = _body({"repositoryNames": ["x" * 1000] * 31_000})
        response = client.post("/", content=huge, headers={
            "Authorization": "good", "X-Amz-Target": TARGET + "DescribeRepositories"})
    assert response.status_code == 413
    assert response.json()["__type"] == "RequestEntityTooLargeException"
    assert fake.authenticated == [] and fake.calls == []


def test_checks_stop_at_the_first_violating_value(monkeypatch):
    matched = []
    real = validation.compiled_pattern

    def counting(pattern):
        compiled = real(pattern)
        if compiled is None:
            return None

        class _Counting:
            def fullmatch(self, value):
                matched.append(value)
                return compiled.fullmatch(value)
        return _Counting()

    monkeypatch.setattr(validation, "compiled_pattern", counting)
    operation = model.operation_model("DescribeRepositories")
    names = [f"BAD NAME {i}" for i in range(100)]
    with pytest.raises(Exception, match="'repositoryNames' failed to satisfy constraint"):
        validation.validate_input(operation, {"repositoryNames": names})
    assert len([v for v in matched if v.startswith("BAD NAME")]) == 1
    # Types are still checked past the first violation: a wrong type anywhere is reported.
    names[50] = 5
    with pytest.raises(Exception, match="Cannot read 'repositoryNames'"):
        validation.validate_input(operation, {"repositoryNames": names})
