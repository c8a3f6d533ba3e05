"""Plain HTTP checks against the OCI Distribution API, independent of the client tool under test."""
from __future__ import annotations

import json
from typing import Any

import requests

from tests.support import media_types as mt
from tests.support.oci_layout import sha256_digest

TIMEOUT = 30


class RegistryAPI:
    """``auth``: HTTP Basic (user, password) for every request, e.g. ``("AWS", token)``; None sends none."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = auth

    def _url(self, repo: str, kind: str, ref: str) -> str:
        return f"{self.base_url}/v2/{repo}/{kind}/{ref}"

    def get_manifest(self, repo: str, ref: str, accept: str = mt.ACCEPT_ALL_MANIFESTS) -> requests.Response:
        return self.session.get(self._url(repo, "manifests", ref), headers={"Accept": accept}, timeout=TIMEOUT)

    def head_manifest(self, repo: str, ref: str, accept: str = mt.ACCEPT_ALL_MANIFESTS) -> requests.Response:
        return self.session.head(self._url(repo, "manifests", ref), headers={"Accept": accept}, timeout=TIMEOUT)

    def manifest(self, repo: str, ref: str, accept: str = mt.ACCEPT_ALL_MANIFESTS) -> tuple[bytes, str, Any]:
        """(raw bytes, digest of those bytes, parsed JSON); asserts 200 and a matching Docker-Content-Digest."""
        resp = self.get_manifest(repo, ref, accept)
        assert resp.status_code == 200, f"GET manifest {repo}:{ref} -> {resp.status_code} {resp.text[:500]}"
        digest = sha256_digest(resp.content)
        header = resp.headers.get("Docker-Content-Digest")
        assert header in (None, digest), f"Docker-Content-Digest {header} != sha256 of body {digest}"
        if ref.startswith("sha256:"):
            assert digest == ref, f"manifest fetched by digest {ref} hashes to {digest}"
        return resp.content, digest, json.loads(resp.content)

    def get_blob(self, repo: str, digest: str) -> requests.Response:
        return self.session.get(self._url(repo, "blobs", digest), timeout=TIMEOUT)

    def head_blob(self, repo: str, digest: str) -> requests.Response:
        return self.session.head(self._url(repo, "blobs", digest), timeout=TIMEOUT)

    def blob(self, repo: str, digest: str) -> bytes:
        resp = self.get_blob(repo, digest)
        assert resp.status_code == 200, f"GET blob {repo}@{digest} -> {resp.status_code} {resp.text[:500]}"
        assert sha256_digest(resp.content) == digest, f"blob {repo}@{digest} content does not match its digest"
        return resp.content

    def tags(self, repo: str) -> list[str]:
        resp = self.session.get(f"{self.base_url}/v2/{repo}/tags/list", timeout=TIMEOUT)
        assert resp.status_code == 200, f"GET tags {repo} -> {resp.status_code} {resp.text[:500]}"
        return resp.json().get("tags") or []

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> requests.Response:
        params = {"artifactType": artifact_type} if artifact_type else None
        return self.session.get(self._url(repo, "referrers", digest), params=params, timeout=TIMEOUT)
