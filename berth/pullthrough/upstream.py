"""A blocking OCI Distribution client for the pull-through cache, shared by worker threads
(urllib3's pool is thread-safe; the token cache is under a lock). Authentication is docker's:
anonymous (or a cached token) first, then on 401 what WWW-Authenticate asks for: Basic, or a
Bearer token from the realm. Credentials and tokens never reach a log record or an exception
message.

A mistake of configuration or of the caller (a malformed upstream URL, repository name, reference
or digest) raises ValueError; whatever the upstream answers, or fails to, raises UpstreamError."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Callable, Self
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3 import BaseHTTPResponse as Response
from urllib3.exceptions import HTTPError

log = logging.getLogger("berth.pullthrough")

MANIFEST_LIMIT = 4 * 1024 * 1024
SMALL_LIMIT = 1024 * 1024  # error documents, token answers
CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
TOKEN_SECONDS = 60  # the token spec's default lifetime
TOKEN_MARGIN = 10.0  # renewed early: a request in flight must not carry an expiring token
TOKEN_CACHE_MAX = 4096
DOCKER_HUB = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
REDIRECTS = (301, 302, 303, 307, 308)
GENERIC_TYPES = ("", "application/json", "text/plain", "application/octet-stream")
NOT_FOUND_CODES = {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"}
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
ERROR_CODE = re.compile(r"[A-Z_]{1,64}")
CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^\s,]*))')


class UpstreamError(Exception):
    """``code``: unavailable, rate_limited (``retry_after``: seconds or None), not_found, denied
    or invalid; ``status``: the HTTP status, None when no answer came."""

    def __init__(self, code: str, message: str, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.code, self.status, self.retry_after = code, status, retry_after


@dataclass(frozen=True)
class UpstreamManifest:
    digest: str
    media_type: str
    content: bytes


class UpstreamBlob:
    """``size`` bytes in chunks of about 1 MiB; the iteration checks size and digest at its end
    (else UpstreamError invalid; the digest only if ``verify``: a consumer that hashes the bytes
    itself spares a second pass). Closing drops a connection not read to its end."""

    def __init__(self, response: Response, size: int, digest: str, what: str,
                 verify: bool = True):
        self.size, self.digest, self.verify = size, digest, verify
        self._response: Response | None = response
        self._what, self._complete = what, False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        assert self._response is not None, "the blob was closed"
        hasher, received = hashlib.new(self.digest.split(":", 1)[0]), 0
        try:
            for chunk in self._response.stream(CHUNK, decode_content=False):
                if self.verify:
                    hasher.update(chunk)
                received += len(chunk)
                yield chunk
        except HTTPError as exc:
            raise UpstreamError("unavailable", f"{self._what}: {_reason(exc)}") from None
        if received != self.size or (self.verify and
                                     hasher.hexdigest() != self.digest.split(":", 1)[1]):
            raise UpstreamError("invalid", f"{self._what}: {received} bytes, {self.size} "
                                           "announced, or not the digest's")
        self._complete = True

    def close(self) -> None:
        if self._response is not None:
            if not self._complete:
                self._response.close()
            self._response.release_conn()
            self._response = None


class Upstream:
    """The registry at ``url``: "host[:port]" (https), "https://host[:port]" or
    "http://host[:port]", no path but "/" (else ValueError); "docker.io" is registry-1.docker.io.
    ``ca_file``: CAs trusted besides the system's (blob redirects may lead to public CDNs).
    ``credentials``: (user, password), or what gives them when asked (a login that expires)."""

    def __init__(self, url: str,
                 credentials: tuple[str, str] | Callable[[], tuple[str, str]] | None = None, *,
                 timeout: float = 30.0, ca_file: str | None = None):
        self.base_url, self.host = _base_url(url)
        self._credentials = credentials
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic expiry)
        self._lock = threading.Lock()
        self._basic = False  # the upstream asked for Basic once: sent up front from then on
        context = ssl.create_default_context()
        if ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        self._http = urllib3.PoolManager(
            num_pools=16, maxsize=16, retries=False, ssl_context=context,
            timeout=urllib3.Timeout(connect=timeout, read=timeout))

    def close(self) -> None:
        self._http.clear()

    def check(self) -> None:
        response, what = self._request("GET", None, "", {})
        try:
            _expect_ok(response, what)
        finally:
            _release(response)

    def manifest(self, repository: str, reference: str, accept: Sequence[str]) -> UpstreamManifest:
        response, what = self._manifest_request("GET", repository, reference, accept)
        try:
            _expect_ok(response, what)
            content = _read(response, MANIFEST_LIMIT, what)
        finally:
            _release(response)
        if DIGEST.fullmatch(reference) and _digest(content, reference) != reference:
            raise UpstreamError("invalid", f"{what}: the manifest does not match its digest")
        media_type = _media_type(response.headers.get("Content-Type"), content, what)
        return UpstreamManifest(_digest(content, "sha256"), media_type, content)

    def manifest_digest(self, repository: str, reference: str,
                        accept: Sequence[str]) -> str | None:
        """The digest by HEAD (Docker-Content-Digest), None if the upstream does not have it."""
        response, what = self._manifest_request("HEAD", repository, reference, accept)
        try:
            if response.status == 404:
                return None
            _expect_ok(response, what)
        finally:
            _release(response)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not DIGEST.fullmatch(digest) or (DIGEST.fullmatch(reference) and digest != reference):
            raise UpstreamError("invalid", f"{what}: no or a wrong Docker-Content-Digest",
                                response.status)
        return digest

    def blob(self, repository: str, digest: str, verify: bool = True) -> UpstreamBlob:
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256/sha512 digest: {digest!r}")
        response, what = self._request("GET", repository, f"blobs/{digest}",
                                       {"Accept-Encoding": "identity"})
        try:
            _expect_ok(response, what)
            size = int(response.headers.get("Content-Length", "-"))
        except BaseException as exc:
            _release(response)
            if isinstance(exc, ValueError):
                raise UpstreamError("invalid", f"{what}: no Content-Length",
                                    response.status) from None
            raise
        return UpstreamBlob(response, size, digest, what, verify)

    def _manifest_request(self, method: str, repository: str, reference: str,
                          accept: Sequence[str]) -> tuple[Response, str]:
        if not (TAG.fullmatch(reference) or DIGEST.fullmatch(reference)):
            raise ValueError(f"not a tag or sha256/sha512 digest: {reference!r}")
        headers = {"Accept": ", ".join(accept)} if accept else {}
        return self._request(method, repository, f"manifests/{reference}", headers)

    def _request(self, method: str, repository: str | None, tail: str,
                 headers: dict[str, str]) -> tuple[Response, str]:
        """The answer to /v2/[<repository>/]<tail>, and how messages name the request; on a 401,
        authenticates and retries once (a cached token may have been revoked early)."""
        if repository is not None and not (len(repository) <= 255
                                           and REPOSITORY.fullmatch(repository)):
            raise ValueError(f"not a repository name: {repository!r}")
        path = f"/v2/{repository}/{tail}" if repository is not None else f"/v2/{tail}"
        url, what = self.base_url + path, f"{method} {self.host}{path}"
        scope = f"repository:{repository}:pull" if repository is not None else None
        response = self._send(method, url, {**headers, **self._cached_auth(scope)}, what)
        if response.status != 401:
            return response, what
        challenge = response.headers.get("WWW-Authenticate", "")
        _release(response)
        auth = self._authenticate(challenge, scope, what)
        response = self._send(method, url, {**headers, **auth}, what)
        if response.status == 401:
            _release(response)
            raise UpstreamError("denied", f"{what}: HTTP 401 after authenticating", 401)
        return response, what

    def _send(self, method: str, url: str, headers: dict[str, str], what: str) -> Response:
        """Follows redirects; Authorization only goes to the first URL's origin (a blob's CDN or
        S3 has its own authentication, in the URL)."""
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self._http.request(method, url, headers=headers, redirect=False,
                                              preload_content=False)
            except HTTPError as exc:
                raise UpstreamError("unavailable", f"{what}: {_reason(exc)}") from None
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return response
            _release(response)
            url = urljoin(url, location)
            if _origin(url) != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            method = "GET" if response.status == 303 and method != "HEAD" else method
        raise UpstreamError("invalid", f"{what}: more than {MAX_REDIRECTS} redirects")

    def _cached_auth(self, scope: str | None) -> dict[str, str]:
        if self._basic:
            return {"Authorization": self._basic_auth()}
        with self._lock:
            token, expires = self._tokens.get(scope or "", ("", 0.0))
        return {"Authorization": f"Bearer {token}"} if time.monotonic() < expires else {}

    def _authenticate(self, challenge: str, scope: str | None, what: str) -> dict[str, str]:
        scheme, _, rest = challenge.strip().partition(" ")
        params = {m[1].lower(): m[2] if m[2] is not None else m[3]
                  for m in CHALLENGE_PARAM.finditer(rest)}
        if scheme.lower() == "basic" and self._credentials is not None:
            if self._basic:  # sent and refused: a login that expired is renewed, once
                self._creds(renew=True)
            self._basic = True
            return {"Authorization": self._basic_auth()}
        if scheme.lower() == "bearer" and params.get("realm"):
            return {"Authorization": f"Bearer {self._fetch_token(params, scope, what)}"}
        raise UpstreamError("denied", f"{what}: HTTP 401, no credentials for its challenge", 401)

    def _fetch_token(self, params: dict[str, str], scope: str | None, what: str) -> str:
        """A token from the realm, cached under the request's own scope (not the challenge's)."""
        realm = urlsplit(params["realm"])
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise UpstreamError("invalid", f"{what}: the token realm is not an HTTP URL")
        query = {"service": params.get("service"), "scope": scope or params.get("scope")}
        query, headers = {k: v for k, v in query.items() if v}, {}
        if self._credentials is not None:
            query["account"] = self._creds()[0]
            headers["Authorization"] = self._basic_auth()
        token_what = f"GET {realm.netloc}{realm.path} (token for {what})"
        response = self._send("GET", params["realm"] + ("&" if realm.query else "?")
                              + urlencode(query), headers, token_what)
        try:
            if response.status == 404:  # a wrong realm, not a missing image
                raise UpstreamError("invalid", f"{token_what}: HTTP 404", 404)
            _expect_ok(response, token_what)
            token, lifetime = _token_answer(_read(response, SMALL_LIMIT, token_what), token_what)
        finally:
            _release(response)
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) >= TOKEN_CACHE_MAX:
                self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[scope or ""] = (token, now + max(lifetime - TOKEN_MARGIN, lifetime / 2))
        log.debug("upstream token for %s from %s, for %ss", scope or "/v2/", realm.netloc, lifetime)
        return token

    def _creds(self, renew: bool = False) -> tuple[str, str]:
        given = self._credentials
        if callable(given):
            return given(renew) if renew else given()
        return given or ("", "")

    def _basic_auth(self) -> str:
        user, password = self._creds()
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _base_url(url: str) -> tuple[str, str]:
    if "@" in url:  # not echoed: it may hold a password
        raise ValueError("upstream URL: credentials do not belong in it")
    parts = urlsplit(url if "://" in url else f"https://{url}")
    try:
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"upstream URL {url!r}: bad port") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError(f"upstream URL {url!r}: expected host[:port] or http(s)://host[:port]")
    host = DOCKER_HUB.get(parts.netloc.lower(), parts.netloc)
    return f"{parts.scheme}://{host}", host


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, (parts.hostname or "").lower(),
            parts.port or {"http": 80, "https": 443}.get(parts.scheme))


def _digest(content: bytes, algorithm_or_digest: str) -> str:
    algorithm = algorithm_or_digest.split(":", 1)[0]
    return f"{algorithm}:{hashlib.new(algorithm, content).hexdigest()}"


def _reason(exc: HTTPError) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:300]


def _read(response: Response, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes; _release then drops the connection rather than read the rest."""
    try:
        body = response.read(limit + 1)
    except HTTPError as exc:
        raise UpstreamError("unavailable", f"{what}: {_reason(exc)}") from None
    if len(body) > limit:
        raise UpstreamError("invalid", f"{what}: the body is over {limit} bytes", response.status)
    return body


def _release(response: Response) -> None:
    """Returns the connection to the pool after reading a small rest; a large or unknown rest
    (an unwanted blob, an oversized manifest) is not worth reading: the connection is closed."""
    remaining = response.length_remaining
    if response.closed or (remaining is not None and remaining <= SMALL_LIMIT):  # closed: at EOF
        try:
            response.drain_conn()
        except HTTPError:
            pass
    else:
        response.close()
    response.release_conn()


def _expect_ok(response: Response, what: str) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    codes = _error_codes(response) if status >= 400 else []
    detail = f"{what}: HTTP {status}" + (f" ({', '.join(codes)})" if codes else "")
    if status == 429 or "TOOMANYREQUESTS" in codes:
        retry_after = response.headers.get("Retry-After", "").strip()
        raise UpstreamError("rate_limited", detail, status,
                            float(retry_after) if retry_after.isdigit() else None)
    if status == 404 or NOT_FOUND_CODES.intersection(codes):
        raise UpstreamError("not_found", detail, status)
    if status in (401, 403):
        raise UpstreamError("denied", detail, status)
    code = "unavailable" if status >= 500 or status == 408 else "invalid"
    raise UpstreamError(code, detail, status)


def _error_codes(response: Response) -> list[str]:
    """An error answer's distribution codes; only those: the rest is the upstream's free text."""
    try:
        codes = [e.get("code") for e in json.loads(response.read(SMALL_LIMIT))["errors"]]
    except (HTTPError, ValueError, LookupError, AttributeError, TypeError):
        return []
    return [c for c in codes if isinstance(c, str) and ERROR_CODE.fullmatch(c)][:5]


def _token_answer(body: bytes, what: str) -> tuple[str, float]:
    """The token (``token``, or OAuth2's ``access_token``) and its lifetime in seconds."""
    try:
        answer = json.loads(body)
        token = answer.get("token") or answer.get("access_token")
        lifetime = answer.get("expires_in")
    except (ValueError, AttributeError):
        token = lifetime = None
    if not isinstance(token, str) or not token:
        raise UpstreamError("invalid", f"{what}: no token in the answer")
    if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
        lifetime = TOKEN_SECONDS
    return token, float(lifetime)


def _media_type(content_type: str | None, content: bytes, what: str) -> str:
    """Content-Type, unless missing or generic: then the manifest's own mediaType."""
    media_type = (content_type or "").split(";", 1)[0].strip()
    if media_type.lower() in GENERIC_TYPES:
        try:
            declared = json.loads(content).get("mediaType")
        except (ValueError, AttributeError):
            declared = None
        media_type = declared if isinstance(declared, str) and declared else media_type
    if not media_type:
        raise UpstreamError("invalid", f"{what}: neither a Content-Type nor a mediaType")
    return media_type
