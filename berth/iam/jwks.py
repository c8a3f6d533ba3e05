"""The keys OpenID Connect issuers sign tokens with: given outright (a provider's JWKS, for
issuers Berth cannot reach), or fetched from the issuer (its discovery document names its
``jwks_uri``) and kept for an hour, fetched again early when a token names a key not seen yet
(the issuer rotated), at most once a minute per issuer. TLS is verified against the system's
CAs, or pinned to the provider's certificate thumbprints when it has some."""
from __future__ import annotations

import json
import threading
import time

import jwt
import urllib3

FETCH_TTL = 3600.0
REFETCH_AFTER = 60.0
TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)
MAX_DOCUMENT = 1024 * 1024


class FederationError(Exception):
    """A web identity refused; ``code`` as STS names it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def key_set(document: str | dict) -> jwt.PyJWKSet:
    """A JWKS's usable keys; FederationError if it has none."""
    try:
        found = (jwt.PyJWKSet.from_json(document) if isinstance(document, str)
                 else jwt.PyJWKSet.from_dict(document))
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, ValueError, TypeError):
        raise FederationError("InvalidParameterValue", "The JWKS holds no usable key") from None
    return found


class Jwks:
    def __init__(self):
        self._fetched: dict[str, tuple[jwt.PyJWKSet, float]] = {}
        self._lock = threading.Lock()

    def key(self, provider, kid: str | None, alg: str) -> jwt.PyJWK:
        """The provider's key for a token's header: by ``kid``, or the only key that fits."""
        if provider.jwks is not None:
            return _pick(key_set(provider.jwks), kid, alg)
        keys, fetched_at = self._cached(provider)
        try:
            return _pick(keys, kid, alg)
        except FederationError:
            if time.monotonic() - fetched_at < REFETCH_AFTER:
                raise
        keys, _ = self._cached(provider, renew=True)
        return _pick(keys, kid, alg)

    def _cached(self, provider, renew: bool = False) -> tuple[jwt.PyJWKSet, float]:
        with self._lock:
            found = self._fetched.get(provider.issuer)
        if found is None or renew or time.monotonic() - found[1] > FETCH_TTL:
            found = (self._fetch(provider), time.monotonic())
            with self._lock:
                self._fetched[provider.issuer] = found
        return found

    def _fetch(self, provider) -> jwt.PyJWKSet:
        discovery = _get_json(provider, provider.issuer + "/.well-known/openid-configuration")
        uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(uri, str) or not uri.startswith(provider.scheme + "://"):
            raise FederationError("IDPCommunicationError", "The identity provider's discovery "
                                  "document names no usable jwks_uri")
        try:
            return key_set(_get_json(provider, uri))
        except FederationError:
            raise FederationError("IDPCommunicationError", "The identity provider's JWKS "
                                  "holds no usable key") from None


def _pick(keys: jwt.PyJWKSet, kid: str | None, alg: str) -> jwt.PyJWK:
    """The key named ``kid``; without one, the only key of the algorithm's family (never a
    symmetric key: a public JWKS has none, and HMAC with a public key is the classic forgery)."""
    family = {"R": "RSA", "P": "RSA", "E": "EC"}[alg[0]]
    fitting = [k for k in keys.keys if k.key_type == family and (kid is None or k.key_id == kid)]
    if len(fitting) != 1:
        raise FederationError("InvalidIdentityToken", "No key of the identity provider "
                              f"matches the token (kid {kid!r}, {alg})")
    return fitting[0]


def _get_json(provider, url: str):
    """GET a JSON document from the issuer: verified TLS, or a pinned thumbprint."""
    pins = provider.thumbprints if provider.scheme == "https" else ()
    attempts = [{"assert_fingerprint": pin} for pin in pins] or [{}]
    failure: Exception | None = None
    for options in attempts:
        pool = urllib3.PoolManager(timeout=TIMEOUT, retries=False,
                                   cert_reqs="CERT_NONE" if options else "CERT_REQUIRED",
                                   **options)
        try:
            answer = pool.request("GET", url, preload_content=False, redirect=False)
            body = answer.read(MAX_DOCUMENT + 1)
            answer.release_conn()
            if answer.status != 200 or len(body) > MAX_DOCUMENT:
                raise FederationError("IDPCommunicationError", f"The identity provider "
                                      f"answered {answer.status} for {url}")
            return json.loads(body)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            failure = exc
        finally:
            pool.clear()
    raise FederationError("IDPCommunicationError", f"Couldn't retrieve verification key from "
                          f"your identity provider: {type(failure).__name__}")
