"""Property tests: malformed paths, digests, headers, query strings and manifest bodies on every
route and method. Whatever comes in, the registry must answer

* never a 5xx;
* on a 4xx, an OCI error body {"errors": [{"code", "message", ...}]} with codes from the spec;
* on a 4xx, no partial state: the metadata tables and the stored blob files are unchanged.

One registry serves the whole module, once on each metadata database (SQLite, PostgreSQL); a
known set of content (repositories, blobs, an image, an index, a referrer, an open upload
session) is restored before each example if a successful request removed part of it.
"""
from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.metadata_templates import DATABASES, fresh_database

from .support import (DOCKER_LIST, DOCKER_MANIFEST, ERROR_CODES, OCI_CONFIG, OCI_EMPTY, OCI_INDEX,
                      OCI_LAYER, OCI_MANIFEST, canonical, descriptor, error_codes,
                      running_registry, sha256, sha512)

FUZZ = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

REPO, OTHER = "fuzz/app", "fuzz/other"
BLOB = b"a standalone blob"
EMPTY = b""
OTHER_BLOB = b"only in the other repository"
CONFIG = canonical({"architecture": "amd64", "os": "linux"})
LAYER = b"layer bytes " * 8
IMAGE = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, CONFIG),
         "layers": [descriptor(OCI_LAYER, LAYER)], "annotations": {"k": "v"}}
IMAGE_BODY = canonical(IMAGE)
INDEX = {"schemaVersion": 2, "mediaType": OCI_INDEX,
         "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(IMAGE_BODY),
                        "size": len(IMAGE_BODY)}]}
INDEX_BODY = canonical(INDEX)
REFERRER = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.sig",
            "config": descriptor(OCI_EMPTY, b"{}"), "layers": [descriptor(OCI_LAYER, LAYER)],
            "subject": {"mediaType": OCI_MANIFEST, "digest": sha256(IMAGE_BODY),
                        "size": len(IMAGE_BODY)}}
REFERRER_BODY = canonical(REFERRER)
DOCKER = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
          "config": descriptor("application/vnd.docker.container.image.v1+json", CONFIG),
          "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER)]}
TEMPLATES = [IMAGE, INDEX, REFERRER, DOCKER]
SESSION_BYTES = b"12345"

SEED_BLOBS = {REPO: [BLOB, EMPTY, CONFIG, LAYER, b"{}"], OTHER: [OTHER_BLOB]}
SEED_MANIFESTS = [(IMAGE_BODY, "v1"), (INDEX_BODY, "multi"), (REFERRER_BODY, None)]
SEED_DIGESTS = [sha256(x) for x in (BLOB, EMPTY, CONFIG, LAYER, OTHER_BLOB, IMAGE_BODY, INDEX_BODY,
                                    REFERRER_BODY, SESSION_BYTES)] + [sha512(BLOB)]
MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST]


class Fixture:
    """The module's registry, its known content and its current upload session."""

    def __init__(self, oci):
        self.oci = oci
        self.session = ""
        self.ensure()

    def _query(self, sql: str, *args) -> set:
        return set(self.oci.query(sql, *args))

    def ensure(self) -> None:
        linked = self._query("SELECT r.name, b.digest FROM repository_blobs b JOIN repositories r "
                             "ON r.id = b.repository_id")
        for repo, blobs in SEED_BLOBS.items():
            for blob in blobs:
                if (repo, sha256(blob)) not in linked:
                    self.oci.push_blob(repo, blob)
        manifests = self._query("SELECT m.digest FROM manifests m JOIN repositories r "
                                "ON r.id = m.repository_id WHERE r.name = ?", REPO)
        tags = self._query("SELECT t.name, t.digest FROM tags t JOIN repositories r "
                           "ON r.id = t.repository_id WHERE r.name = ?", REPO)
        for body, tag in SEED_MANIFESTS:
            digest = sha256(body)
            if (tag and (tag, digest) not in tags) or (digest,) not in manifests:
                media_type = json.loads(body)["mediaType"]
                resp = self.oci.put_manifest(REPO, tag or digest, body, media_type)
                assert resp.status_code == 201, resp.text
        if not self._query("SELECT id FROM uploads WHERE id = ?", self.session):
            location = self.oci.start_upload(REPO)
            self.session = location.rsplit("/", 1)[1]
            resp = self.oci.patch(location, content=SESSION_BYTES)
            assert resp.status_code == 202, resp.text


@pytest.fixture(scope="module", params=DATABASES)
def fx(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}") / "data"
    with fresh_database(request, request.param, data_dir) as database:
        with running_registry(data_dir, database) as oci:
            yield Fixture(oci)


# The ECR and admin APIs live beside /v2/ and answer in AWS JSON 1.1 error bodies.
AWS_JSON_ENDPOINTS = ("/", "/admin")


def send(fx: Fixture, method: str, url: str, *, headers=None, body: bytes | None = None,
         params=None):
    """Send one request and check the three invariants."""
    if params:
        url += "?" + urlencode(params, errors="surrogatepass")
    fx.ensure()
    before = fx.oci.snapshot()
    resp = fx.oci.request(method, url, headers=headers or {}, content=body)
    where = f"{method} {url} headers={headers!r} body={None if body is None else body[:200]!r}"
    assert resp.status_code < 500, f"{where} -> {resp.status_code} {resp.text[:300]}"
    if resp.status_code >= 400:
        if method != "HEAD" and url.split("?")[0] in AWS_JSON_ENDPOINTS:
            assert "__type" in resp.json(), f"{where} -> {resp.text[:300]}"
        elif method != "HEAD":
            codes = error_codes(resp)
            assert set(codes) <= ERROR_CODES, f"{where} -> codes {codes}"
        after = fx.oci.snapshot()
        assert after == before, f"{where} -> {resp.status_code} changed the stored state"
    return resp


# -- strategies -------------------------------------------------------------------------------
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=24)
HEX = "0123456789abcdef"

names = st.one_of(
    st.sampled_from([REPO, OTHER, "fuzz/none", "fuzz", "team-a/web-app", "a__b/c---d"]),
    st.sampled_from(["", "/", "a//b", "-a", "a-", "A", "a..b", "_catalog", "a" * 300, "v2",
                     "fuzz/app/blobs/uploads", "fuzz/app/manifests/v1", "a/./b", "%2e%2e"]),
    st.text(st.sampled_from("abzAZ09._-/ %:@~\x00é"), max_size=20),
)
digests = st.one_of(
    st.sampled_from(SEED_DIGESTS),
    st.text(HEX, min_size=64, max_size=64).map("sha256:".__add__),
    st.text(HEX, min_size=128, max_size=128).map("sha512:".__add__),
    st.builds("{}:{}".format,
              st.sampled_from(["sha256", "sha512", "SHA256", "md5", "sha384", "", "sha256+b64",
                               "a.b", "blake3"]),
              st.text(st.sampled_from(HEX + "ABCDEFxyz=_-+.: "), max_size=140)),
    ANY_TEXT,
)
tags = st.one_of(st.sampled_from(["v1", "multi", "nope", "latest"]),
                 st.from_regex(r"\A[a-zA-Z0-9_][a-zA-Z0-9._-]{0,140}\Z"), ANY_TEXT)
references = st.one_of(digests, tags)
upload_ids = st.one_of(st.just(None), st.uuids().map(str), ANY_TEXT)  # None: the live session
numbers = st.one_of(st.integers(-5, 2**70).map(str),
                    st.sampled_from(["", " 5", "+5", "5_0", "0x10", "1e3", "-0", "٣", "10001",
                                     "00", "9" * 30]),
                    st.text(LATIN1, max_size=8))
media_types = st.one_of(st.sampled_from(MANIFEST_TYPES + [
    "application/json", "application/octet-stream", "*/*", "application/*", "text/plain", "",
    OCI_MANIFEST + "; charset=utf-8", OCI_MANIFEST + ";q=0",
    "application/vnd.oci.image.manifest.v2+json"]),
    st.text(LATIN1, max_size=40))
accepts = st.one_of(st.lists(media_types, max_size=4).map(", ".join), st.text(LATIN1, max_size=40))
bound = st.one_of(st.none(), st.integers(-3, 2**66))
ranges = st.one_of(
    st.builds(lambda a, b: f"bytes={'' if a is None else a}-{'' if b is None else b}",
              bound, bound),
    st.builds(lambda a, b, c: f"bytes={a}-{b},{c}-", bound, bound, bound),
    st.sampled_from(["bytes=", "bytes=-", "items=0-1", "bytes 0-1", "bytes=0-1/2", "=0-1",
                     "bytes=1-0", "bytes=--1", "bytes=0--1"]),
    st.text(LATIN1, max_size=30),
)
content_ranges = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", st.integers(-3, 2**66), st.integers(-3, 2**66)),
    st.builds(lambda a, b, t: f"bytes {a}-{b}/{t}", st.integers(0, 40), st.integers(0, 40),
              st.sampled_from(["*", "5", "40", "x"])),
    st.sampled_from(["0-4", "5-9", "4-8", "0-0", "5-4", "bytes */10", "bytes=0-4", "-", "5-",
                     "-5", " 0-4 ", "0 - 4", "0-4,5-9"]),
    st.text(LATIN1, max_size=30),
)
query_keys = st.sampled_from(["digest", "mount", "from", "n", "last", "artifactType", "x", ""])
query_values = st.one_of(digests, names, numbers, tags, st.text(LATIN1, max_size=20))
queries = st.lists(st.tuples(query_keys, query_values), max_size=4)
bodies = st.one_of(st.none(), st.binary(max_size=64),
                   st.sampled_from([BLOB, SESSION_BYTES, IMAGE_BODY, INDEX_BODY, b"{}", b""]))
header_sets = st.fixed_dictionaries({}, optional={
    "Accept": accepts, "Content-Type": media_types, "Range": ranges,
    "Content-Range": content_ranges, "Content-Length": numbers})

ROUTES = ["/v2/", "/v2/_catalog", "/v2/{name}/manifests/{reference}", "/v2/{name}/blobs/{digest}",
          "/v2/{name}/blobs/uploads/", "/v2/{name}/blobs/uploads/{upload}",
          "/v2/{name}/tags/list", "/v2/{name}/referrers/{digest}", "/v2/{name}", "/v2",
          "/{junk}", "/v2/{name}/{junk}", "/v2/{name}/blobs/uploads/{upload}/{junk}"]
METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]


def q(value: str, safe: str = "") -> str:
    """Percent-encode a path segment (lone surrogates as their UTF-8-ish bytes)."""
    return quote(value, safe=safe, errors="surrogatepass")


def path(template: str, fx: Fixture, name: str, reference: str, digest: str,
         upload: str | None, junk: str) -> str:
    upload = fx.session if upload is None else upload
    return template.format(name=q(name, "/"), reference=q(reference, ":"), digest=q(digest, ":"),
                           upload=q(upload), junk=q(junk, "/"))


def header_dict(values: dict) -> dict:
    # Non-ASCII header values go out as their UTF-8 bytes (the server reads them as latin-1).
    return {k: v.encode("utf-8") for k, v in values.items()}


# -- properties -------------------------------------------------------------------------------
@FUZZ
@given(method=st.sampled_from(METHODS), template=st.sampled_from(ROUTES), name=names,
       reference=references, digest=digests, upload=upload_ids, junk=ANY_TEXT, query=queries,
       headers=header_sets, body=bodies)
def test_any_request_on_any_route(fx, method, template, name, reference, digest, upload, junk,
                                  query, headers, body):
    url = path(template, fx, name, reference, digest, upload, junk)
    send(fx, method, url, headers=header_dict(headers), body=body, params=query)


def _mutate(doc, path_keys: list, value, delete: bool):
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path_keys[:-1]:
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and isinstance(key, int) and key < len(target):
            target = target[key]
        else:
            return doc
    last = path_keys[-1]
    if isinstance(target, dict):
        if delete:
            target.pop(last, None)
        else:
            target[last] = value
    elif isinstance(target, list) and isinstance(last, int) and last < len(target):
        if delete:
            target.pop(last)
        else:
            target[last] = value
    return doc


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False), ANY_TEXT,
                         st.sampled_from(SEED_DIGESTS + MANIFEST_TYPES + [2, 1, -1, 0]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(ANY_TEXT, inner, max_size=3),
    st.fixed_dictionaries({"mediaType": inner, "digest": inner, "size": inner})), max_leaves=8)
field_paths = st.lists(st.one_of(st.sampled_from(
    ["schemaVersion", "mediaType", "config", "layers", "manifests", "subject", "artifactType",
     "annotations", "digest", "size", "urls", "k"]), st.integers(0, 2)), min_size=1, max_size=3)
mutated = st.builds(lambda doc, edits: canonical_loose(doc, edits), st.sampled_from(TEMPLATES),
                    st.lists(st.tuples(field_paths, json_values, st.booleans()), min_size=1,
                             max_size=3))


def canonical_loose(doc, edits) -> bytes:
    for path_keys, value, delete in edits:
        doc = _mutate(doc, path_keys, value, delete)
    return json.dumps(doc).encode()  # ensure_ascii: lone surrogates become \\udXXX escapes


def nested(depth: int, inside: str) -> bytes:
    if inside == "array":
        return b"[" * depth + b"]" * depth
    core = b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[],"annotations":%s}' % (
        OCI_MANIFEST.encode(), canonical(descriptor(OCI_CONFIG, CONFIG)), core)


# Replacing one string a registry stores or echoes keeps the rest of the manifest valid, so these
# reach the database rather than stopping at validation.
string_fields = st.sampled_from([("artifactType",), ("mediaType",), ("config", "mediaType"),
                                 ("subject", "mediaType"), ("annotations", "k"),
                                 ("layers", 0, "mediaType"), ("manifests", 0, "artifactType"),
                                 ("config", "urls")])
odd_strings = st.one_of(
    st.text(min_size=1, max_size=12),
    # a lone surrogate (never a pair: st.text() draws none, so no neighbour completes it)
    st.builds("{}{}{}".format, st.text(max_size=4), SURROGATES, st.text(max_size=4)))
restrung = st.builds(lambda doc, where, text: canonical_loose(doc, [(list(where), text, False)]),
                     st.sampled_from(TEMPLATES), string_fields, odd_strings)

manifest_bodies = st.one_of(
    restrung,
    mutated,
    st.binary(max_size=200),
    st.builds(lambda doc, cut: canonical(doc)[:cut], st.sampled_from(TEMPLATES),
              st.integers(0, 300)),
    st.builds(nested, st.sampled_from([1, 50, 999, 1000, 3000, 100_000]),
              st.sampled_from(["array", "object"])),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@FUZZ
@given(body=manifest_bodies, content_type=st.one_of(st.none(), media_types),
       reference=st.sampled_from(["fz", "v1", "by-digest", "sha512", "other"]),
       other_reference=references,
       repo=st.sampled_from([REPO, REPO, REPO, OTHER, "fuzz/new"]))  # the seeded one mostly
def test_malformed_manifest_bodies(fx, body, content_type, reference, other_reference, repo):
    reference = {"by-digest": sha256(body), "sha512": sha512(body),
                 "other": other_reference}.get(reference, reference)
    headers = {"Content-Type": content_type} if content_type is not None else {}
    send(fx, "PUT", f"/v2/{repo}/manifests/{q(reference, ':')}",
         headers=header_dict(headers), body=body)


@settings(FUZZ, max_examples=100)
@given(template=st.sampled_from(TEMPLATES), where=string_fields, text=odd_strings,
       by_digest=st.booleans())
def test_odd_strings_in_otherwise_valid_manifests(fx, template, where, text, by_digest):
    body = canonical_loose(template, [(list(where), text, False)])
    send(fx, "PUT", f"/v2/{REPO}/manifests/{sha256(body) if by_digest else 'odd'}", body=body)


upload_digests = st.one_of(st.sampled_from(["session", "session+body", "body"]), digests)


@FUZZ
@given(method=st.sampled_from(["PATCH", "PUT", "POST", "GET", "DELETE"]),
       digest=upload_digests, body=bodies,
       headers=st.fixed_dictionaries({}, optional={
           "Content-Range": content_ranges, "Content-Length": numbers,
           "Content-Type": media_types}),
       extra=queries)
def test_malformed_upload_requests(fx, method, digest, body, headers, extra):
    data = body or b""
    digest = {"session": sha256(SESSION_BYTES), "session+body": sha256(SESSION_BYTES + data),
              "body": sha256(data)}.get(digest, digest)
    if method == "POST":
        url, params = f"/v2/{REPO}/blobs/uploads/", [("digest", digest), *extra]
    else:
        fx.ensure()
        url = f"/v2/{REPO}/blobs/uploads/{fx.session}"
        params = [("digest", digest), *extra] if method == "PUT" else extra
    send(fx, method, url, headers=header_dict(headers), body=body, params=params)


@FUZZ
@given(method=st.sampled_from(["GET", "HEAD"]), blob=st.sampled_from([BLOB, EMPTY, b"{}", LAYER]),
       range_header=ranges, accept=st.one_of(st.none(), accepts))
def test_malformed_range_requests(fx, method, blob, range_header, accept):
    headers = {"Range": range_header}
    if accept is not None:
        headers["Accept"] = accept
    resp = send(fx, method, f"/v2/{REPO}/blobs/{sha256(blob)}", headers=header_dict(headers))
    assert resp.status_code in (200, 206, 416), resp.status_code
    if resp.status_code == 416:
        assert resp.headers["content-range"] == f"bytes */{len(blob)}"
    if resp.status_code == 206:
        # RFC 9110 14.4: "bytes first-last/complete" with first <= last < complete
        unit, _, spec = resp.headers["content-range"].partition(" ")
        span, _, total = spec.partition("/")
        first, _, last = span.partition("-")
        assert unit == "bytes" and total == str(len(blob)), resp.headers["content-range"]
        assert first.isdigit() and last.isdigit(), resp.headers["content-range"]
        assert int(first) <= int(last) < len(blob), resp.headers["content-range"]
        if method == "GET":
            assert resp.content == blob[int(first):int(last) + 1]
