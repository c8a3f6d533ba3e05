"""The keys OpenID Connect issuers sign tokens with: given outright (a provider's JWKS, for
issuers Berth cannot reach), or fetched from the issuer (its discovery document names its
``jwks_uri``, which must be on the issuer's own host) and kept for an hour, fetched again
early when a token names a key not seen yet (the issuer rotated). One fetch per issuer at a
time, at most one a minute after a failure or an unknown key, each within a deadline: tokens
arrive unauthenticated, so they must not be able to make Berth fetch at will. TLS is verified
against the system's CAs, or pinned to the provider's certificate thumbprints when it has
some: the SHA-1 of the issuer's own certificate, or, as AWS takes it, of a CA certificate in
the chain the issuer presents (its top intermediate), which then anchors a full verification of
that chain. Whatever goes wrong, a caller is told only that the keys could not be had."""
from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import jwt
# jwt and urllib3 are imported where used: most servers never see a web identity token, and
# the two hold ~10 MB in every process.

log = logging.getLogger("berth.iam.federation")

FETCH_TTL = 3600.0
REFETCH_AFTER = 60.0
TIMEOUT = {"connect": 5.0, "read": 5.0, "total": 10.0}
MAX_DOCUMENT = 1024 * 1024
_UNAVAILABLE = "Couldn't retrieve verification key from your identity provider"


class FederationError(Exception):
    """A web identity refused; ``code`` as STS names it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def key_set(document: str | dict) -> jwt.PyJWKSet:
    """A JWKS's usable keys; FederationError if it has none (or is no JWKS at all)."""
    import jwt

    try:
        if isinstance(document, str):
            document = json.loads(document)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return jwt.PyJWKSet.from_dict(document)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, jwt.PyJWKError, ValueError, TypeError,
            AttributeError, NotImplementedError):
        raise FederationError("InvalidParameterValue", "The JWKS holds no usable key") from None


class Jwks:
    def __init__(self):
        self._fetched: dict[str, tuple[jwt.PyJWKSet | None, float]] = {}  # None: it failed
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def key(self, provider, kid: str | None, alg: str) -> jwt.PyJWK:
        """The provider's key for a token's header: by ``kid``, or the only key that fits."""
        if provider.jwks is not None:
            return _pick(key_set(provider.jwks), kid, alg)
        keys = self._keys(provider, renew=False)
        try:
            return _pick(keys, kid, alg)
        except FederationError:
            keys = self._keys(provider, renew=True)  # a rotation? (at most once a minute)
        return _pick(keys, kid, alg)

    def _keys(self, provider, renew: bool) -> jwt.PyJWKSet:
        issuer = provider.issuer
        with self._lock:
            lock = self._locks.setdefault(issuer, threading.Lock())
        with lock:  # one fetch per issuer; who asks meanwhile takes its outcome
            keys, at = self._fetched.get(issuer, (None, float("-inf")))
            age = time.monotonic() - at
            stale = age > FETCH_TTL or (renew and age > REFETCH_AFTER)
            if keys is None and age > REFETCH_AFTER or stale:
                try:
                    keys = _fetch(provider)
                except FederationError:
                    keys = None
                self._fetched[issuer] = (keys, time.monotonic())
        if keys is None:
            raise FederationError("IDPCommunicationError", _UNAVAILABLE)
        return keys


def _fetch(provider) -> jwt.PyJWKSet:
    discovery = _get_json(provider, provider.issuer + "/.well-known/openid-configuration")
    uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
    if not isinstance(uri, str) or not _same_host(uri, provider.issuer):
        log.warning("OIDC issuer %s: its discovery document names no jwks_uri on its own "
                    "host", provider.issuer)
        raise FederationError("IDPCommunicationError", _UNAVAILABLE)
    try:
        return key_set(_get_json(provider, uri))
    except FederationError:
        log.warning("OIDC issuer %s: its JWKS holds no usable key", provider.issuer)
        raise FederationError("IDPCommunicationError", _UNAVAILABLE) from None


def _same_host(uri: str, issuer: str) -> bool:
    found, wanted = urlsplit(uri), urlsplit(issuer)
    return (found.scheme, found.netloc) == (wanted.scheme, wanted.netloc)


def _pick(keys: jwt.PyJWKSet, kid: str | None, alg: str) -> jwt.PyJWK:
    """The key named ``kid``; without one, the only key of the algorithm's family (never a
    symmetric key: a public JWKS has none, and HMAC with a public key is the classic forgery).
    Made for the token's algorithm, which may be any of its family's (PS256 with an RSA key)."""
    family = {"R": "RSA", "P": "RSA", "E": "EC"}[alg[0]]
    fitting = [k for k in keys.keys if k.key_type == family and (kid is None or k.key_id == kid)]
    if len(fitting) != 1:
        raise FederationError("InvalidIdentityToken", "No key of the identity provider "
                              f"matches the token (kid {kid!r}, {alg})")
    stated = fitting[0]._jwk_data.get("alg")
    if stated is not None and stated != alg:
        raise FederationError("InvalidIdentityToken", f"The key {kid!r} is for {stated}, not "
                              f"{alg}")
    import jwt

    try:
        return jwt.PyJWK(fitting[0]._jwk_data, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
        raise FederationError("InvalidIdentityToken", f"The key {kid!r} cannot verify "
                              f"{alg}") from None


def _get_json(provider, url: str):
    """GET a JSON document from the issuer: verified TLS, or a pinned thumbprint."""
    import urllib3

    pins = provider.thumbprints if provider.scheme == "https" else ()
    trusted = _pinned_tls(provider, url, pins) if pins else {"cert_reqs": "CERT_REQUIRED"}
    for options in [trusted] if trusted else []:
        pool = urllib3.PoolManager(timeout=urllib3.Timeout(**TIMEOUT), retries=False,
                                   **options)
        try:
            answer = pool.request("GET", url, preload_content=False, redirect=False)
            body = answer.read(MAX_DOCUMENT + 1)
            answer.release_conn()
            if answer.status == 200 and len(body) <= MAX_DOCUMENT:
                return json.loads(body)
            log.warning("OIDC issuer %s: %s answered %s", provider.issuer, url, answer.status)
            break
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            log.warning("OIDC issuer %s: %s failed: %s", provider.issuer, url,
                        type(exc).__name__)
        finally:
            pool.clear()
    raise FederationError("IDPCommunicationError", _UNAVAILABLE)


def _pinned_tls(provider, url: str, pins) -> dict | None:
    """urllib3's TLS options for an issuer trusted through a pinned thumbprint: its own
    certificate's (taken as it is), or a CA certificate's from the chain it presents, which
    must then sign that chain (hostname checked). None if no presented certificate is pinned:
    a CA certificate merely sent along, not signing, is refused by the verification."""
    try:
        chain = _presented_chain(url)
    except (OSError, ValueError) as exc:
        log.warning("OIDC issuer %s: %s failed: %s", provider.issuer, url, type(exc).__name__)
        return None
    for index, der in enumerate(chain):
        thumbprint = hashlib.sha1(der).hexdigest()
        if thumbprint not in pins:
            continue
        if index == 0:
            return {"cert_reqs": "CERT_NONE", "assert_fingerprint": thumbprint}
        anchor = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
        anchor.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # an intermediate may anchor
        return {"ssl_context": anchor}
    log.warning("OIDC issuer %s: no certificate it presents has a pinned thumbprint",
                provider.issuer)
    return None


def _presented_chain(url: str) -> list[bytes]:
    """The DER certificates an https server presents, its own first (not verified here)."""
    parts = urlsplit(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((parts.hostname, parts.port or 443),
                                  timeout=TIMEOUT["connect"]) as raw:
        with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            public = getattr(tls, "get_unverified_chain", None)  # Python 3.13
            if public is not None:
                return list(public())
            return [cert.public_bytes(ssl._ssl.ENCODING_DER)  # 3.10-3.12: not yet public
                    for cert in tls._sslobj.get_unverified_chain() or ()]
