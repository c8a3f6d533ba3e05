"""Manifests (OCI Distribution 1.1 with the OCI image spec and Docker schema 2): PUT, GET, HEAD
and DELETE by tag and digest, content negotiation, subjects, validation and size limits."""
from __future__ import annotations

import json
import re

import pytest

from .support import (DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER,
                      OCI_MANIFEST, assert_error, canonical, descriptor, error_codes, sha256,
                      sha512)

MIB = 1024 * 1024
ALL_TYPES = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def push_kind(oci, repo: str, tag: str, media_type: str):
    """Push a manifest of ``media_type`` under ``tag`` (an index gets two image children)."""
    if media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        return oci.push_image(repo, tag, media_type=media_type, layers=(b"l1-" + tag.encode(),))
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    children = [oci.push_image(repo, None, media_type=child_type, layers=(f"{tag}-{i}".encode(),))
                for i in range(2)]
    return oci.push_index(repo, tag, children, media_type=media_type)


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
def test_put_get_head_delete(oci, media_type):
    repo = "library/app"
    image = push_kind(oci, repo, "v1", media_type)
    for ref in ("v1", image.digest):
        resp = oci.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ALL_TYPES})
        assert resp.status_code == 200, resp.text
        assert resp.content == image.body
        assert resp.headers["content-type"] == media_type
        assert resp.headers["docker-content-digest"] == image.digest
        head = oci.head(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ALL_TYPES})
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(image.size)
        assert head.headers["docker-content-digest"] == image.digest
        assert head.headers["content-type"] == media_type
    assert oci.delete(f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    for ref in ("v1", image.digest):
        assert_error(oci.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ALL_TYPES}),
                     404, "MANIFEST_UNKNOWN")
        assert oci.head(f"/v2/{repo}/manifests/{ref}").status_code == 404


def test_put_answers_201_with_location_and_digest(oci):
    config, layer = b'{"os":"linux"}', b"layer"
    oci.push_blob("library/app", config)
    oci.push_blob("library/app", layer)
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor(OCI_CONFIG, config),
                      "layers": [descriptor(OCI_LAYER, layer)]})
    resp = oci.put_manifest("library/app", "v1", body)
    assert resp.status_code == 201
    assert resp.headers["docker-content-digest"] == sha256(body)
    pulled = oci.get(resp.headers["location"], headers={"Accept": OCI_MANIFEST})
    assert pulled.status_code == 200 and pulled.content == body
    # pushing the same manifest again is fine
    assert oci.put_manifest("library/app", "v1", body).status_code == 201


def test_put_by_digest(oci):
    image = oci.push_image("library/app", None)  # push_image puts by digest without a tag
    resp = oci.get(f"/v2/library/app/manifests/{image.digest}")
    assert resp.status_code == 200 and resp.content == image.body
    assert oci.get("/v2/library/app/tags/list").json()["tags"] in ([], None)


def test_put_by_sha512_digest(oci):
    oci.push_blob("library/app", b"{}")
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor(OCI_CONFIG, b"{}"), "layers": []})
    digest = sha512(body)
    resp = oci.put_manifest("library/app", digest, body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["docker-content-digest"] == digest
    got = oci.get(f"/v2/library/app/manifests/{digest}")
    assert got.status_code == 200 and got.content == body
    assert got.headers["docker-content-digest"] == digest


def test_digest_mismatch_on_put_by_digest(oci):
    oci.push_blob("library/app", b"{}")
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor(OCI_CONFIG, b"{}"), "layers": []})
    wrong = sha256(body + b" ")
    assert_error(oci.put_manifest("library/app", wrong, body), 400, "DIGEST_INVALID")
    assert oci.head(f"/v2/library/app/manifests/{sha256(body)}").status_code == 404
    assert oci.head(f"/v2/library/app/manifests/{wrong}").status_code == 404


@pytest.mark.parametrize("accept, ok", [
    (None, True),
    (OCI_MANIFEST, True),
    ("*/*", True),
    ("application/*", True),
    (f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9", True),
    (f"{DOCKER_MANIFEST};q=1.0,{OCI_INDEX}, {OCI_MANIFEST}", True),
    (DOCKER_MANIFEST, False),
    (f"{OCI_INDEX}, {DOCKER_LIST}", False),
])
def test_accept_negotiation(oci, accept, ok):
    image = oci.push_image("library/app", "v1")
    headers = {"Accept": accept} if accept else {}
    for method in ("GET", "HEAD"):
        resp = oci.request(method, "/v2/library/app/manifests/v1", headers=headers)
        if ok:
            assert resp.status_code == 200, (method, resp.status_code)
            assert resp.headers["content-type"] == OCI_MANIFEST
            assert resp.headers["docker-content-digest"] == image.digest
        else:
            assert resp.status_code == 404, (method, resp.status_code)
            if method == "GET":
                assert "MANIFEST_UNKNOWN" in error_codes(resp)


def test_accept_given_as_several_header_lines(oci):
    oci.push_index("library/app", "multi", [oci.push_image("library/app", None)])
    resp = oci.get("/v2/library/app/manifests/multi",
                   headers=[("Accept", OCI_MANIFEST), ("Accept", OCI_INDEX)])
    assert resp.status_code == 200
    assert resp.headers["content-type"] == OCI_INDEX


def test_docker_manifest_list_negotiation(oci):
    push_kind(oci, "library/app", "list", DOCKER_LIST)
    assert oci.get("/v2/library/app/manifests/list",
                   headers={"Accept": DOCKER_LIST}).status_code == 200
    assert oci.get("/v2/library/app/manifests/list",
                   headers={"Accept": OCI_MANIFEST}).status_code == 404


@pytest.mark.parametrize("subject_exists", [True, False])
def test_put_with_subject_answers_oci_subject(oci, subject_exists):
    subject = (oci.push_image("library/app", "v1") if subject_exists else None)
    subject_digest = subject.digest if subject else sha256(b"a manifest not pushed yet")
    oci.push_blob("library/app", b"{}")
    oci.push_blob("library/app", b"signature")
    body = canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"),
                   "size": 2},
        "layers": [descriptor("application/octet-stream", b"signature")],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": 123}})
    resp = oci.put_manifest("library/app", sha256(body), body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["oci-subject"] == subject_digest


def test_put_without_subject_has_no_oci_subject(oci):
    config = b'{"a":1}'
    oci.push_blob("library/app", config)
    resp = oci.put_manifest("library/app", "v1", {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                                  "config": descriptor(OCI_CONFIG, config),
                                                  "layers": []})
    assert resp.status_code == 201
    assert "oci-subject" not in resp.headers


@pytest.mark.parametrize("missing", ["config", "layer"])
def test_missing_blob_answers_manifest_blob_unknown(oci, missing):
    config, layer = b'{"os":"linux"}', b"layer-bytes"
    if missing != "config":
        oci.push_blob("library/app", config)
    if missing != "layer":
        oci.push_blob("library/app", layer)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer)]}
    assert_error(oci.put_manifest("library/app", "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(oci.get("/v2/library/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_blob_of_another_repository_does_not_satisfy_a_manifest(oci):
    config = b'{"os":"linux"}'
    oci.push_blob("library/other", config)
    oci.push_blob("library/app", b"x")
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
            "layers": []}
    assert_error(oci.put_manifest("library/app", "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")


def test_index_with_unknown_child_is_refused(oci):
    child = oci.push_image("library/other", None)
    oci.push_blob("library/app", b"x")
    resp = oci.put_manifest("library/app", "v1", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                  "manifests": [child.descriptor()]}, OCI_INDEX)
    assert resp.status_code == 400
    assert set(error_codes(resp)) & {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"}


def test_descriptor_size_must_match_the_blob(oci):
    config = b'{"os":"linux"}'
    oci.push_blob("library/app", config)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {**descriptor(OCI_CONFIG, config), "size": len(config) + 1}, "layers": []}
    resp = oci.put_manifest("library/app", "v1", body)
    assert resp.status_code == 400
    assert set(error_codes(resp)) & {"MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"}
    assert oci.get("/v2/library/app/manifests/v1").status_code == 404


def test_index_child_size_must_match_the_manifest(oci):
    # Like a blob descriptor (above), a child descriptor whose size is not the manifest's is
    # refused: a client would fail to verify what the index points at.
    child = oci.push_image("library/app", None)
    before = oci.snapshot()
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{**child.descriptor(), "size": child.size + 1}]}
    resp = oci.put_manifest("library/app", "multi", body, OCI_INDEX)
    assert resp.status_code == 400, resp.status_code
    assert set(error_codes(resp)) & {"MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"}
    assert oci.snapshot() == before


CONFIG = b'{"os":"linux"}'
GOOD_CONFIG = descriptor(OCI_CONFIG, CONFIG)


@pytest.mark.parametrize("body, content_type", [
    (b"not json", OCI_MANIFEST),
    (b"", OCI_MANIFEST),
    (b"[]", OCI_MANIFEST),
    (b'"a string"', OCI_MANIFEST),
    (b'{"schemaVersion": 2, "config": ', OCI_MANIFEST),
    (b"\xff\xfe\x00garbage", OCI_MANIFEST),
    ({"schemaVersion": 1, "config": GOOD_CONFIG, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": "2", "config": GOOD_CONFIG, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": True, "config": GOOD_CONFIG, "layers": []}, OCI_MANIFEST),
    ({"config": GOOD_CONFIG, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": 2, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": 2, "config": "sha256:abc", "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": 2, "config": GOOD_CONFIG, "layers": {}}, OCI_MANIFEST),
    ({"schemaVersion": 2, "config": {**GOOD_CONFIG, "digest": "sha256:xyz"}, "layers": []},
     OCI_MANIFEST),
    ({"schemaVersion": 2, "config": {**GOOD_CONFIG, "size": -1}, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": 2, "config": {**GOOD_CONFIG, "size": "14"}, "layers": []}, OCI_MANIFEST),
    ({"schemaVersion": 2, "config": {"digest": sha256(CONFIG), "size": 14}, "layers": []},
     OCI_MANIFEST),
    ({"schemaVersion": 2, "config": GOOD_CONFIG, "layers": [], "annotations": {"a": 1}},
     OCI_MANIFEST),
    ({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": GOOD_CONFIG, "layers": []},
     OCI_MANIFEST),
    ({"schemaVersion": 2, "mediaType": "application/vnd.example.unknown", "config": GOOD_CONFIG,
      "layers": []}, "application/vnd.example.unknown"),
    ({"schemaVersion": 2, "mediaType": OCI_INDEX}, OCI_INDEX),
    ({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": "nope"}]}, OCI_INDEX),
])
def test_invalid_manifest_answers_manifest_invalid(oci, body, content_type):
    oci.push_blob("library/app", CONFIG)
    before = oci.snapshot()
    assert_error(oci.put_manifest("library/app", "v1", body, content_type), 400,
                 "MANIFEST_INVALID")
    assert oci.snapshot() == before


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize("shape", ["array", "annotations"])
def test_deeply_nested_json_answers_manifest_invalid(oci, depth, shape):
    oci.push_blob("library/app", CONFIG)
    if shape == "array":
        body = b"[" * depth + b"]" * depth
    else:
        body = (b'{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":%s}'
                % (OCI_MANIFEST.encode(), canonical(GOOD_CONFIG),
                   b'{"a":' * depth + b'"x"' + b"}" * depth))
    assert len(body) < 4 * MIB
    before = oci.snapshot()
    assert_error(oci.put_manifest("library/app", "deep", body), 400, "MANIFEST_INVALID")
    assert oci.snapshot() == before


@pytest.mark.parametrize("where", ["artifactType", "config.mediaType", "index.artifactType"])
def test_lone_surrogate_escape_in_a_manifest_is_not_a_server_error(oci, where):
    # "\ud800" is valid JSON syntax but not a Unicode string: store the bytes as they are,
    # or refuse the manifest as invalid -- never fail with a 500.
    oci.push_blob("library/app", CONFIG)
    if where == "index.artifactType":
        doc, media_type = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                           "artifactType": "\ud800"}, OCI_INDEX
    else:
        doc, media_type = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": dict(GOOD_CONFIG), "layers": []}, OCI_MANIFEST
        if where == "artifactType":
            doc["artifactType"] = "application/x.\ud800"
        else:
            doc["config"]["mediaType"] = "application/x.\udfff"
    body = json.dumps(doc).encode()  # ensure_ascii writes the surrogate as a \uXXXX escape
    assert re.search(rb"\\ud[89a-f][0-9a-f]{2}", body), body
    before = oci.snapshot()
    resp = oci.put_manifest("library/app", "odd", body, media_type)
    assert resp.status_code in (201, 400), f"{resp.status_code} {resp.text[:200]}"
    if resp.status_code == 400:
        assert "MANIFEST_INVALID" in error_codes(resp)
        assert oci.snapshot() == before
    else:
        assert oci.get("/v2/library/app/manifests/odd").content == body


def _padded_manifest(total: int) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": GOOD_CONFIG, "layers": [],
           "annotations": {"pad": ""}}
    short = len(canonical(doc))
    doc["annotations"]["pad"] = "x" * (total - short)
    body = canonical(doc)
    assert len(body) == total
    return body


def test_manifest_of_4_mib_is_accepted(oci):
    oci.push_blob("library/app", CONFIG)
    body = _padded_manifest(4 * MIB)
    resp = oci.put_manifest("library/app", "big", body)
    assert resp.status_code == 201, resp.text[:300]
    assert oci.get("/v2/library/app/manifests/big").content == body


def test_manifest_over_4_mib_answers_413(oci):
    oci.push_blob("library/app", CONFIG)
    before = oci.snapshot()
    resp = oci.put_manifest("library/app", "huge", _padded_manifest(4 * MIB + 1))
    assert resp.status_code == 413
    error_codes(resp)
    assert oci.snapshot() == before


@pytest.mark.parametrize("tag", ["-leading-dash", ".dot", "a" * 129, "with space", "t@g",
                                 "tag+plus", "ta:g"])
def test_invalid_tag_answers_tag_invalid(oci, tag):
    image = oci.push_image("library/app", None)
    resp = oci.put_manifest("library/app", tag, image.body)
    if ":" in tag:  # neither a tag nor a digest
        assert resp.status_code == 400
        assert set(error_codes(resp)) & {"TAG_INVALID", "DIGEST_INVALID"}
    else:
        assert_error(resp, 400, "TAG_INVALID")


def test_longest_valid_tag(oci):
    tag = "_" + "a" * 127
    image = oci.push_image("library/app", tag)
    assert oci.get(f"/v2/library/app/manifests/{tag}").content == image.body


@pytest.mark.parametrize("name", ["Upper/case", "a//b", "-lead", "trail-", "a..b", "a/", "a/-b",
                                  "a.-b", "a___b", "ns/ímage", "_lead"])
def test_invalid_name_answers_name_invalid(oci, name):
    oci.push_blob("library/app", CONFIG)
    body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": GOOD_CONFIG,
                      "layers": []})
    assert_error(oci.put_manifest(name, "v1", body), 400, "NAME_INVALID")
    assert_error(oci.get(f"/v2/{name}/manifests/v1"), 400, "NAME_INVALID")
    assert_error(oci.post(f"/v2/{name}/blobs/uploads/"), 400, "NAME_INVALID")
    assert_error(oci.get(f"/v2/{name}/tags/list"), 400, "NAME_INVALID")


@pytest.mark.parametrize("name", ["a", "a__b", "a---b", "a.b_c-d", "0/1/2/3/4", "team-a/web-app"])
def test_valid_names_are_accepted(oci, name):
    image = oci.push_image(name, "v1")
    assert oci.get(f"/v2/{name}/manifests/v1").content == image.body


def test_unknown_repository_answers_name_unknown(oci):
    assert_error(oci.get("/v2/no/such/repo/manifests/latest"), 404, "NAME_UNKNOWN")
    assert oci.head("/v2/no/such/repo/manifests/latest").status_code == 404
    assert_error(oci.delete(f"/v2/no/such/repo/manifests/{sha256(b'x')}"), 404, "NAME_UNKNOWN")


def test_unknown_tag_and_digest_answer_manifest_unknown(oci):
    oci.push_image("library/app", "v1")
    assert_error(oci.get("/v2/library/app/manifests/v2"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.get(f"/v2/library/app/manifests/{sha256(b'x')}"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.delete("/v2/library/app/manifests/v2"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.delete(f"/v2/library/app/manifests/{sha256(b'x')}"), 404, "MANIFEST_UNKNOWN")


def test_deleting_a_tag_keeps_the_manifest(oci):
    image = oci.push_image("library/app", "v1")
    assert oci.put_manifest("library/app", "latest", image.body).status_code == 201
    assert oci.delete("/v2/library/app/manifests/v1").status_code == 202
    assert_error(oci.get("/v2/library/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert oci.get(f"/v2/library/app/manifests/{image.digest}").content == image.body
    assert oci.get("/v2/library/app/manifests/latest").content == image.body
    assert oci.get("/v2/library/app/tags/list").json()["tags"] == ["latest"]


def test_deleting_a_manifest_by_digest_removes_its_tags(oci):
    image = oci.push_image("library/app", "v1")
    other = oci.push_image("library/app", "v2", layers=(b"other",))
    for tag in ("latest", "stable"):
        assert oci.put_manifest("library/app", tag, image.body).status_code == 201
    assert oci.delete(f"/v2/library/app/manifests/{image.digest}").status_code == 202
    assert oci.get("/v2/library/app/tags/list").json()["tags"] == ["v2"]
    for tag in ("v1", "latest", "stable"):
        assert_error(oci.get(f"/v2/library/app/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
    assert oci.get("/v2/library/app/manifests/v2").content == other.body


def test_retagging_points_the_tag_at_the_new_manifest(oci):
    first = oci.push_image("library/app", "latest")
    second = oci.push_image("library/app", "latest", layers=(b"newer",))
    assert first.digest != second.digest
    resp = oci.get("/v2/library/app/manifests/latest")
    assert resp.headers["docker-content-digest"] == second.digest
    assert oci.get(f"/v2/library/app/manifests/{first.digest}").status_code == 200


def test_deleting_an_index_keeps_its_children(oci):
    child = oci.push_image("library/app", None)
    index = oci.push_index("library/app", "multi", [child])
    assert oci.delete(f"/v2/library/app/manifests/{index.digest}").status_code == 202
    assert oci.get(f"/v2/library/app/manifests/{child.digest}").status_code == 200


def test_manifest_without_media_type_field_uses_content_type(oci):
    oci.push_blob("library/app", CONFIG)
    body = canonical({"schemaVersion": 2, "config": GOOD_CONFIG, "layers": []})
    assert oci.put_manifest("library/app", "v1", body, OCI_MANIFEST).status_code == 201
    resp = oci.get("/v2/library/app/manifests/v1")
    assert resp.headers["content-type"] == OCI_MANIFEST
    assert resp.content == body


def test_manifest_bytes_are_kept_exactly(oci):
    oci.push_blob("library/app", CONFIG)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": GOOD_CONFIG,
                       "layers": []}, indent=3).encode() + b"\n\n"
    resp = oci.put_manifest("library/app", "pretty", body)
    assert resp.status_code == 201
    assert resp.headers["docker-content-digest"] == sha256(body)
    assert oci.get("/v2/library/app/manifests/pretty").content == body


def test_nested_namespace_push_and_pull(oci):
    image = oci.push_image("team-a/web-app", "1.0")
    resp = oci.get("/v2/team-a/web-app/manifests/1.0")
    assert resp.status_code == 200 and resp.content == image.body
    assert oci.get("/v2/team-a/web-app/tags/list").json() == {"name": "team-a/web-app",
                                                              "tags": ["1.0"]}
    assert_error(oci.get("/v2/team-a/manifests/1.0"), 404, "NAME_UNKNOWN")
