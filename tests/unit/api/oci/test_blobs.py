"""GET /v2/ and blob HEAD/GET/DELETE (OCI Distribution 1.1: pull, content management)."""
from __future__ import annotations

import pytest

from berth.registry.blobs.service import BlobService

from .support import assert_error, sha256, sha512

BLOB = bytes(range(256)) * 4 + b"tail"  # 1028 bytes


def test_base_endpoint_answers_200(oci):
    resp = oci.get("/v2/")
    assert resp.status_code == 200
    assert resp.headers["docker-distribution-api-version"] == "registry/2.0"


def test_get_blob_returns_content_and_headers(oci):
    digest = oci.push_blob("library/app", BLOB)
    resp = oci.get(f"/v2/library/app/blobs/{digest}")
    assert resp.status_code == 200
    assert resp.content == BLOB
    assert resp.headers["docker-content-digest"] == digest
    assert resp.headers["content-length"] == str(len(BLOB))
    assert resp.headers["content-type"] == "application/octet-stream"


def test_head_blob_returns_headers_without_body(oci):
    digest = oci.push_blob("library/app", BLOB)
    resp = oci.head(f"/v2/library/app/blobs/{digest}")
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["docker-content-digest"] == digest
    assert resp.headers["content-length"] == str(len(BLOB))
    assert resp.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-9", 0, 9),
    ("bytes=100-", 100, len(BLOB) - 1),
    ("bytes=-4", len(BLOB) - 4, len(BLOB) - 1),
    ("bytes=1000-99999", 1000, len(BLOB) - 1),
    ("bytes=5-5", 5, 5),
])
def test_range_request_returns_partial_content(oci, header, start, end):
    digest = oci.push_blob("library/app", BLOB)
    resp = oci.get(f"/v2/library/app/blobs/{digest}", headers={"Range": header})
    assert resp.status_code == 206
    assert resp.content == BLOB[start:end + 1]
    assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(BLOB)}"
    assert resp.headers["content-length"] == str(end - start + 1)
    assert resp.headers["docker-content-digest"] == digest


def test_a_get_redirected_to_the_storage_counts_its_bytes_as_pulled(oci, monkeypatch):
    digest = oci.push_blob("library/app", BLOB)
    # A storage that serves blobs itself (S3): its presigned URL, whatever the blob's key.
    monkeypatch.setattr(BlobService, "redirect_url",
                        lambda self, blob, expires_in: "https://store.example/blob")
    counter = oci.client.app.app.state.usage_transfer
    url = f"/v2/library/app/blobs/{digest}"

    def pulled() -> int:
        return sum(inside + outside for inside, outside in counter.pending().values())

    assert oci.head(url).status_code == 200 and pulled() == 0  # HEAD: nothing redirected
    resp = oci.get(url)
    assert resp.status_code == 307 and resp.headers["location"] == "https://store.example/blob"
    assert pulled() == len(BLOB)
    ranged = oci.get(url, headers={"Range": "bytes=1000-"})  # followed with its Range
    assert ranged.status_code == 307 and pulled() == len(BLOB) + len(BLOB) - 1000
    [(key, _)] = counter.pending().items()
    assert key[3] == "library/app"


@pytest.mark.parametrize("header", [f"bytes={len(BLOB)}-",
                                    f"bytes={len(BLOB) + 10}-{len(BLOB) + 20}", "bytes=-0"])
def test_unsatisfiable_range_answers_416(oci, header):
    digest = oci.push_blob("library/app", BLOB)
    resp = oci.get(f"/v2/library/app/blobs/{digest}", headers={"Range": header})
    assert resp.status_code == 416
    assert resp.headers["content-range"] == f"bytes */{len(BLOB)}"


@pytest.mark.parametrize("header", ["bytes=-1", "bytes=0-", "bytes=0-0"])
def test_range_on_empty_blob_is_never_an_invalid_partial_response(oci, header):
    # RFC 9110 14.4: a Content-Range of a 206 needs first-pos <= last-pos < length, which no
    # range of an empty representation can satisfy: answer the (empty) whole or 416.
    digest = oci.push_blob("library/app", b"")
    resp = oci.get(f"/v2/library/app/blobs/{digest}", headers={"Range": header})
    assert resp.status_code in (200, 416), (resp.status_code, resp.headers.get("content-range"))
    if resp.status_code == 416:
        assert resp.headers["content-range"] == "bytes */0"
    else:
        assert resp.content == b""


def test_unknown_blob_answers_404_blob_unknown(oci):
    oci.push_blob("library/app", BLOB)
    missing = sha256(b"never pushed")
    assert_error(oci.get(f"/v2/library/app/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    assert oci.head(f"/v2/library/app/blobs/{missing}").status_code == 404


def test_blob_of_unknown_repository_answers_404_name_unknown(oci):
    assert_error(oci.get(f"/v2/nobody/here/blobs/{sha256(BLOB)}"), 404, "NAME_UNKNOWN")




def test_blob_is_only_visible_in_the_repository_it_was_pushed_to(oci):
    digest = oci.push_blob("library/app", BLOB)
    oci.push_blob("library/other", b"something else")
    assert_error(oci.get(f"/v2/library/other/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_blob(oci):
    digest = oci.push_blob("library/app", BLOB)
    resp = oci.delete(f"/v2/library/app/blobs/{digest}")
    assert resp.status_code == 202
    assert oci.head(f"/v2/library/app/blobs/{digest}").status_code == 404
    assert_error(oci.get(f"/v2/library/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(oci.delete(f"/v2/library/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_in_one_repository_keeps_it_in_another(oci):
    digest = oci.push_blob("library/app", BLOB)
    oci.push_blob("library/copy", BLOB)
    assert oci.delete(f"/v2/library/app/blobs/{digest}").status_code == 202
    assert oci.get(f"/v2/library/copy/blobs/{digest}").content == BLOB


def test_delete_blob_a_manifest_references_is_refused(oci):
    image = oci.push_image("library/app", "v1", layers=(BLOB,))
    resp = oci.delete(f"/v2/library/app/blobs/{sha256(BLOB)}")
    assert_error(resp, 409, "DENIED")
    assert oci.get(f"/v2/library/app/blobs/{sha256(BLOB)}").status_code == 200
    assert oci.get(f"/v2/library/app/manifests/{image.digest}").status_code == 200


def test_one_blob_in_two_repositories_is_stored_once(oci):
    before = oci.blob_files()
    digest = oci.push_blob("team-a/web-app", BLOB)
    assert oci.push_blob("team-b/worker", BLOB) == digest
    added = oci.blob_files() - before
    assert len(added) == 1, added
    (path,) = added
    assert path.startswith("aes256/")  # sealed with the deployment key (AES256)
    assert BLOB not in (oci.data_dir / "blobs" / "data" / path).read_bytes()
    for repo in ("team-a/web-app", "team-b/worker"):
        assert oci.get(f"/v2/{repo}/blobs/{digest}").content == BLOB


def test_sha512_blob(oci):
    digest = oci.push_blob("library/app", BLOB, algorithm="sha512")
    assert digest == sha512(BLOB)
    resp = oci.get(f"/v2/library/app/blobs/{digest}")
    assert resp.status_code == 200
    assert resp.content == BLOB
    assert resp.headers["docker-content-digest"] == digest
    head = oci.head(f"/v2/library/app/blobs/{digest}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(BLOB))
    # the same bytes under sha256 were not pushed
    assert_error(oci.get(f"/v2/library/app/blobs/{sha256(BLOB)}"), 404, "BLOB_UNKNOWN")


def test_blob_in_nested_namespace(oci):
    digest = oci.push_blob("team-a/web-app", BLOB)
    assert oci.get(f"/v2/team-a/web-app/blobs/{digest}").content == BLOB
    assert_error(oci.get(f"/v2/team-a/blobs/{digest}"), 404, "NAME_UNKNOWN")
