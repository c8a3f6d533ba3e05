"""The referrers API (OCI Distribution 1.1, content discovery)."""
from __future__ import annotations

import pytest

from .support import (OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, assert_error, canonical, descriptor,
                      sha256, sha512)

SBOM = "application/vnd.example.sbom.v1"
SIG = "application/vnd.example.signature.v1"
CONFIG_TYPE = "application/vnd.example.config-typed.v1+json"


def push_referrer(oci, repo: str, subject: dict, *, artifact_type: str | None = None,
                  config_type: str = OCI_EMPTY, annotations: dict | None = None,
                  payload: bytes = b"payload") -> tuple[str, bytes]:
    config = b"{}" if config_type == OCI_EMPTY else canonical({"kind": config_type})
    oci.push_blob(repo, config)
    oci.push_blob(repo, payload)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": descriptor(config_type, config),
           "layers": [descriptor("application/octet-stream", payload)], "subject": subject}
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    if annotations is not None:
        doc["annotations"] = annotations
    body = canonical(doc)
    resp = oci.put_manifest(repo, sha256(body), body, OCI_MANIFEST)
    assert resp.status_code == 201, resp.text
    assert resp.headers["oci-subject"] == subject["digest"]
    return sha256(body), body


def referrers(oci, repo: str, digest: str, **params):
    resp = oci.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].split(";")[0] == OCI_INDEX
    body = resp.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    return resp, {d["digest"]: d for d in body["manifests"]}, body["manifests"]


@pytest.fixture
def subject(oci):
    return oci.push_image("library/app", "v1")


def test_referrers_list_descriptors_with_artifact_type_and_annotations(oci, subject):
    sbom, sbom_body = push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SBOM,
                                    annotations={"org.example.format": "spdx"}, payload=b"sbom")
    sig, sig_body = push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SIG,
                                  annotations={"org.example.key": "abcd",
                                               "org.opencontainers.image.created": "2024-01-01"},
                                  payload=b"sig")
    resp, found, listed = referrers(oci, "library/app", subject.digest)
    assert "oci-filters-applied" not in resp.headers
    assert len(listed) == 2
    assert found[sbom] == {"mediaType": OCI_MANIFEST, "digest": sbom, "size": len(sbom_body),
                           "artifactType": SBOM, "annotations": {"org.example.format": "spdx"}}
    assert found[sig] == {"mediaType": OCI_MANIFEST, "digest": sig, "size": len(sig_body),
                          "artifactType": SIG,
                          "annotations": {"org.example.key": "abcd",
                                          "org.opencontainers.image.created": "2024-01-01"}}


def test_artifact_type_falls_back_to_config_media_type(oci, subject):
    digest, _ = push_referrer(oci, "library/app", subject.descriptor(), config_type=CONFIG_TYPE)
    _, found, _ = referrers(oci, "library/app", subject.digest)
    assert found[digest]["artifactType"] == CONFIG_TYPE


def test_empty_artifact_type_falls_back_to_config_media_type(oci, subject):
    digest, _ = push_referrer(oci, "library/app", subject.descriptor(), artifact_type="",
                              config_type=CONFIG_TYPE)
    _, found, _ = referrers(oci, "library/app", subject.digest)
    assert found[digest]["artifactType"] == CONFIG_TYPE


def test_filter_by_artifact_type(oci, subject):
    sbom, _ = push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SBOM,
                            payload=b"sbom")
    push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SIG, payload=b"sig")
    by_config, _ = push_referrer(oci, "library/app", subject.descriptor(), config_type=SBOM,
                                 payload=b"sbom2")
    resp, found, _ = referrers(oci, "library/app", subject.digest, artifactType=SBOM)
    assert resp.headers["oci-filters-applied"] == "artifactType"
    assert set(found) == {sbom, by_config}
    assert all(d["artifactType"] == SBOM for d in found.values())
    resp, found, _ = referrers(oci, "library/app", subject.digest,
                               artifactType="application/vnd.example.none")
    assert resp.headers["oci-filters-applied"] == "artifactType"
    assert found == {}


def test_unknown_digest_answers_an_empty_index(oci, subject):
    for digest in (sha256(b"nothing refers to this"), sha512(b"nor this")):
        resp, found, listed = referrers(oci, "library/app", digest)
        assert listed == []


def test_unknown_repository_is_not_a_404(oci):
    resp = oci.get(f"/v2/no/such/repo/referrers/{sha256(b'x')}")
    assert resp.status_code != 404
    if resp.status_code == 200:
        assert resp.json()["manifests"] == []


@pytest.mark.parametrize("digest", ["sha256:abc", "notadigest", "sha256:" + "Z" * 64, "latest"])
def test_invalid_digest_answers_400(oci, subject, digest):
    assert_error(oci.get(f"/v2/library/app/referrers/{digest}"), 400, "DIGEST_INVALID")


def test_referrer_pushed_before_its_subject(oci):
    subject_digest = sha256(b"future subject")
    digest, _ = push_referrer(oci, "library/app",
                              {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": 14},
                              artifact_type=SIG)
    _, found, _ = referrers(oci, "library/app", subject_digest)
    assert set(found) == {digest}


def test_index_referrer_without_artifact_type_omits_it(oci, subject):
    child = oci.push_image("library/app", None, layers=(b"child",))
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child.descriptor()],
           "subject": subject.descriptor(), "annotations": {"org.example.kind": "bundle"}}
    body = canonical(doc)
    resp = oci.put_manifest("library/app", sha256(body), body, OCI_INDEX)
    assert resp.status_code == 201
    assert resp.headers["oci-subject"] == subject.digest
    _, found, _ = referrers(oci, "library/app", subject.digest)
    assert found[sha256(body)] == {"mediaType": OCI_INDEX, "digest": sha256(body),
                                   "size": len(body),
                                   "annotations": {"org.example.kind": "bundle"}}


def test_index_referrer_with_artifact_type(oci, subject):
    child = oci.push_image("library/app", None, layers=(b"child",))
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": SBOM,
           "manifests": [child.descriptor()], "subject": subject.descriptor()}
    body = canonical(doc)
    assert oci.put_manifest("library/app", sha256(body), body, OCI_INDEX).status_code == 201
    _, found, _ = referrers(oci, "library/app", subject.digest, artifactType=SBOM)
    assert found[sha256(body)]["artifactType"] == SBOM
    assert found[sha256(body)]["mediaType"] == OCI_INDEX


def test_deleted_referrer_is_no_longer_listed(oci, subject):
    keep, _ = push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SBOM,
                            payload=b"keep")
    gone, _ = push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SIG,
                            payload=b"gone")
    assert oci.delete(f"/v2/library/app/manifests/{gone}").status_code == 202
    _, found, _ = referrers(oci, "library/app", subject.digest)
    assert set(found) == {keep}


def test_referrers_are_per_repository(oci, subject):
    push_referrer(oci, "library/app", subject.descriptor(), artifact_type=SBOM)
    oci.push_blob("library/other", b"x")
    _, found, _ = referrers(oci, "library/other", subject.digest)
    assert found == {}


def test_referrers_in_nested_namespace(oci):
    image = oci.push_image("team-a/web-app", "1.0")
    digest, _ = push_referrer(oci, "team-a/web-app", image.descriptor(), artifact_type=SIG)
    _, found, _ = referrers(oci, "team-a/web-app", image.digest)
    assert set(found) == {digest}
