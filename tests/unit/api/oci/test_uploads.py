"""Blob uploads (OCI Distribution 1.1, push): monolithic, POST+PUT, streamed and chunked
PATCH, upload status, cancel, digest checks, cross-repository mounts and sha512."""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from .support import assert_error, sha256, sha512

DATA = b"0123456789abcdefghijklmnopqrstuvwxyz" * 10  # 360 bytes


def with_query(location: str, **params: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode(params)


def path_of(location: str) -> str:
    return urlsplit(location).path


def assert_pullable(oci, location: str, data: bytes, digest: str) -> None:
    resp = oci.get(location)
    assert resp.status_code == 200, f"GET {location}: {resp.status_code}"
    assert resp.content == data
    assert resp.headers["docker-content-digest"] == digest


def test_single_post_monolithic_upload(oci):
    digest = sha256(DATA)
    resp = oci.post(f"/v2/library/app/blobs/uploads/?digest={digest}", content=DATA,
                    headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201
    assert resp.headers["docker-content-digest"] == digest
    assert_pullable(oci, resp.headers["location"], DATA, digest)


def test_post_then_put_with_body(oci):
    resp = oci.post("/v2/library/app/blobs/uploads/")
    assert resp.status_code == 202
    location = resp.headers["location"]
    assert location
    digest = sha256(DATA)
    done = oci.put(with_query(location, digest=digest), content=DATA,
                   headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    assert_pullable(oci, done.headers["location"], DATA, digest)


def test_upload_sessions_have_distinct_locations(oci):
    first = oci.start_upload("library/app")
    second = oci.start_upload("library/app")
    assert first != second


def test_streamed_patch_then_put(oci):
    location = oci.start_upload("library/app")
    resp = oci.patch(location, content=DATA, headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 202
    assert resp.headers["range"] == f"0-{len(DATA) - 1}"
    location = resp.headers["location"]
    digest = sha256(DATA)
    done = oci.put(with_query(location, digest=digest))
    assert done.status_code == 201, done.text
    assert_pullable(oci, done.headers["location"], DATA, digest)


def test_chunked_upload_with_content_range(oci):
    location = oci.start_upload("library/app")
    chunks = [DATA[:100], DATA[100:250], DATA[250:]]
    offset = 0
    for chunk in chunks[:2]:
        end = offset + len(chunk) - 1
        resp = oci.patch(location, content=chunk, headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{end}",
            "Content-Length": str(len(chunk))})
        assert resp.status_code == 202, resp.text
        assert resp.headers["range"] == f"0-{end}"
        assert path_of(resp.headers["location"]) == path_of(location)
        location = resp.headers["location"]
        offset = end + 1
    digest = sha256(DATA)
    last = chunks[2]
    done = oci.put(with_query(location, digest=digest), content=last, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{offset}-{offset + len(last) - 1}"})
    assert done.status_code == 201, done.text
    assert_pullable(oci, done.headers["location"], DATA, digest)


def _patch(oci, location, chunk, start):
    return oci.patch(location, content=chunk, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(chunk) - 1}", "Content-Length": str(len(chunk))})


@pytest.mark.parametrize("bad_start", [0, 50, 101, 200])  # repeated, overlapping, gap, far gap
def test_out_of_order_or_repeated_chunk_answers_416(oci, bad_start):
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:100], 0).status_code == 202
    resp = _patch(oci, location, DATA[bad_start:bad_start + 50], bad_start)
    assert resp.status_code == 416, resp.text
    # the upload did not move, and continues where it stood
    status = oci.get(location)
    assert status.status_code == 204
    assert status.headers["range"] == "0-99"
    assert _patch(oci, location, DATA[100:], 100).status_code == 202
    done = oci.put(with_query(location, digest=sha256(DATA)))
    assert done.status_code == 201, done.text
    assert oci.get(done.headers["location"]).content == DATA


def test_first_chunk_must_start_at_zero(oci):
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:10], 5).status_code == 416


def test_upload_status(oci):
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:42], 0).status_code == 202
    resp = oci.get(location)
    assert resp.status_code == 204
    assert resp.headers["range"] == "0-41"
    assert path_of(resp.headers["location"]) == path_of(location)


def test_cancel_upload(oci):
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:10], 0).status_code == 202
    resp = oci.delete(location)
    assert resp.status_code == 204
    assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.put(with_query(location, digest=sha256(DATA[:10]))), 404,
                 "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_unknown_upload_session(oci):
    location = "/v2/library/app/blobs/uploads/00000000-0000-0000-0000-000000000000"
    assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.patch(location, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.put(with_query(location, digest=sha256(b"x")), content=b"x"), 404,
                 "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_is_bound_to_its_repository(oci):
    location = oci.start_upload("library/app")
    upload_id = path_of(location).rsplit("/", 1)[1]
    other = f"/v2/library/other/blobs/uploads/{upload_id}"
    assert_error(oci.get(other), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.patch(other, content=DATA), 404, "BLOB_UPLOAD_UNKNOWN")
    assert oci.get(location).status_code == 204


def test_completed_upload_session_is_gone(oci):
    location = oci.start_upload("library/app")
    assert oci.put(with_query(location, digest=sha256(DATA)), content=DATA).status_code == 201
    assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_digest_mismatch_on_put_answers_digest_invalid(oci):
    location = oci.start_upload("library/app")
    wrong = sha256(b"other content")
    assert_error(oci.put(with_query(location, digest=wrong), content=DATA), 400, "DIGEST_INVALID")
    assert oci.head(f"/v2/library/app/blobs/{wrong}").status_code == 404
    assert oci.head(f"/v2/library/app/blobs/{sha256(DATA)}").status_code == 404
    assert oci.blob_files() == set()


def test_failed_closing_put_does_not_leave_its_chunk_in_the_session(oci):
    # A 400 must not half-apply the request: afterwards the session is either gone (as CNCF
    # Distribution does, cancelling it) or still where it stood, so the client can retry.
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:100], 0).status_code == 202
    resp = oci.put(with_query(location, digest=sha256(b"wrong")), content=DATA[100:])
    assert_error(resp, 400, "DIGEST_INVALID")
    status = oci.get(location)
    assert status.status_code in (204, 404)
    if status.status_code == 204:
        assert status.headers["range"] == "0-99", "the failed PUT's body was appended"
        retry = oci.put(with_query(location, digest=sha256(DATA)), content=DATA[100:])
        assert retry.status_code == 201, retry.text
        assert oci.get(f"/v2/library/app/blobs/{sha256(DATA)}").content == DATA


def test_digest_mismatch_on_monolithic_post_answers_digest_invalid(oci):
    wrong = sha256(b"other content")
    resp = oci.post(f"/v2/library/app/blobs/uploads/?digest={wrong}", content=DATA)
    assert_error(resp, 400, "DIGEST_INVALID")
    assert oci.blob_files() == set()
    # The push's first write made the repository (as a session's start does); nothing in it.
    assert not oci.get("/v2/library/app/tags/list").json()["tags"]


def test_put_without_digest_is_refused(oci):
    location = oci.start_upload("library/app")
    assert_error(oci.put(location, content=DATA), 400, "DIGEST_INVALID")
    assert oci.blob_files() == set()


def test_empty_blob(oci):
    digest = sha256(b"")
    location = oci.start_upload("library/app")
    done = oci.put(with_query(location, digest=digest))
    assert done.status_code == 201, done.text
    resp = oci.get(f"/v2/library/app/blobs/{digest}")
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["content-length"] == "0"


def test_mount_from_another_repository(oci):
    digest = oci.push_blob("library/source", DATA)
    resp = oci.post(f"/v2/library/target/blobs/uploads/?mount={digest}&from=library/source")
    assert resp.status_code == 201, resp.text
    assert resp.headers["docker-content-digest"] == digest
    assert_pullable(oci, resp.headers["location"], DATA, digest)
    assert oci.get(f"/v2/library/target/blobs/{digest}").content == DATA


def test_mount_without_from_starts_a_session(oci):
    digest = oci.push_blob("library/source", DATA)
    resp = oci.post(f"/v2/library/target/blobs/uploads/?mount={digest}")
    assert resp.status_code in (201, 202), resp.text
    if resp.status_code == 202:
        location = resp.headers["location"]
        done = oci.put(with_query(location, digest=digest), content=DATA)
        assert done.status_code == 201, done.text
    assert oci.get(f"/v2/library/target/blobs/{digest}").content == DATA


def test_mount_from_a_repository_lacking_the_blob_starts_a_session(oci):
    oci.push_blob("library/source", b"unrelated")
    digest = sha256(DATA)
    resp = oci.post(f"/v2/library/target/blobs/uploads/?mount={digest}&from=library/source")
    assert resp.status_code == 202, resp.text
    location = resp.headers["location"]
    assert oci.get(location).status_code == 204
    assert oci.head(f"/v2/library/target/blobs/{digest}").status_code == 404
    done = oci.put(with_query(location, digest=digest), content=DATA)
    assert done.status_code == 201, done.text


def test_mount_from_an_unknown_repository_starts_a_session(oci):
    digest = sha256(DATA)
    resp = oci.post(f"/v2/library/target/blobs/uploads/?mount={digest}&from=no/such/repo")
    assert resp.status_code == 202, resp.text
    assert oci.get(resp.headers["location"]).status_code == 204


def test_mount_does_not_copy_the_content(oci):
    digest = oci.push_blob("library/source", DATA)
    files = oci.blob_files()
    assert oci.post(f"/v2/library/target/blobs/uploads/?mount={digest}&from=library/source"
                    ).status_code == 201
    assert oci.blob_files() == files


def test_sha512_monolithic_upload(oci):
    digest = sha512(DATA)
    resp = oci.post(f"/v2/library/app/blobs/uploads/?digest={digest}", content=DATA)
    assert resp.status_code == 201, resp.text
    assert_pullable(oci, resp.headers["location"], DATA, digest)


def test_sha512_chunked_upload(oci):
    location = oci.start_upload("library/app")
    assert _patch(oci, location, DATA[:200], 0).status_code == 202
    assert _patch(oci, location, DATA[200:], 200).status_code == 202
    digest = sha512(DATA)
    done = oci.put(with_query(location, digest=digest))
    assert done.status_code == 201, done.text
    assert_pullable(oci, done.headers["location"], DATA, digest)
    assert any(path.startswith("aes256/sha512/") for path in oci.blob_files())


def test_sha512_digest_mismatch(oci):
    location = oci.start_upload("library/app")
    assert_error(oci.put(with_query(location, digest=sha512(b"nope")), content=DATA), 400,
                 "DIGEST_INVALID")


def test_upload_into_nested_namespace(oci):
    location = oci.start_upload("team-a/web-app")
    assert location.startswith("/v2/team-a/web-app/blobs/uploads/") or \
        path_of(location).startswith("/v2/team-a/web-app/blobs/uploads/")
    assert _patch(oci, location, DATA, 0).status_code == 202
    done = oci.put(with_query(location, digest=sha256(DATA)))
    assert done.status_code == 201
    assert oci.get(f"/v2/team-a/web-app/blobs/{sha256(DATA)}").content == DATA
