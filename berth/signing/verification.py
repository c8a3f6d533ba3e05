"""Verifying Notary Project signatures as the specification's workflow does: the trust
policy of the artifact's scope picks the level; each signature's integrity (the envelope,
its critical headers, the algorithm its certificate implies, the payload naming the very
manifest), authenticity (a complete chain to a certificate of the policy's trust stores, a
trusted identity), authentic time (the chain valid now: Berth has no timestamping authority),
expiry and revocation (a Berth signing profile that was revoked) are checked in that order,
each enforced, logged or skipped as the level says. One signature that passes is enough."""
from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
from dataclasses import dataclass, field

from cryptography import x509

from . import certificates, envelope as env
from .models import ChainInvalid
from .trust_policy import ENFORCE, LOG, SKIP, TrustPolicy

_KNOWN_CRITICAL = {env.SCHEME, env.EXPIRY}
MAX_ENVELOPE = 1024 * 1024


class Refused(Exception):
    def __init__(self, check: str, reason: str):
        super().__init__(reason)
        self.check, self.reason = check, reason


@dataclass
class SignatureResult:
    digest: str
    verified: bool = False
    signer: str | None = None          # the signing certificate's subject
    signing_time: str | None = None
    expiry: str | None = None
    failure: str | None = None         # the check that refused it, with why
    logged: list[str] = field(default_factory=list)  # checks that failed but only log

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])}


@dataclass(frozen=True)
class Trust:
    """Certificates by trust store name ("ca:NAME"), and the signing certificates whose
    signatures are refused (revoked signing profiles), by ``revocation_key``: every
    certificate a profile had, its rotations' too."""
    stores: dict[str, list[x509.Certificate]]
    revoked: frozenset[str] = frozenset()


@functools.cache
def _algorithms() -> dict:
    """PyJWT's JWS algorithms, loaded with the first signature (see berth.iam.jwks)."""
    from jwt.algorithms import get_default_algorithms

    return get_default_algorithms()


def revocation_key(leaf: x509.Certificate) -> str:
    """A signing certificate's issuer and subject: one profile's across its rotations (the
    subject names account, region and profile; an import may not reuse one)."""
    return f"{leaf.issuer.rfc4514_string()}|{leaf.subject.rfc4514_string()}"


def verify(policy: TrustPolicy, trust: Trust, subject: dict, signature_digest: str,
           manifest: bytes, envelope: bytes, now: datetime.datetime) -> SignatureResult:
    """One signature (its manifest and envelope) of ``subject`` under ``policy``."""
    result = SignatureResult(signature_digest)
    try:
        header, chain = _integrity(subject, manifest, envelope)
        result.signer = chain[0].subject.rfc4514_string()
        result.signing_time = header.get(env.SIGNING_TIME)
        result.expiry = header.get(env.EXPIRY)
        for check, run in (("authenticity", lambda: _authenticity(policy, trust, chain)),
                           ("authenticTimestamp", lambda: _times(chain, now)),
                           ("expiry", lambda: _expiry(header, now)),
                           ("revocation", lambda: _revocation(trust, chain))):
            action = policy.actions[check]
            if action == SKIP:
                continue
            try:
                run()
            except Refused as exc:
                if action == ENFORCE:
                    raise
                result.logged.append(f"{check}: {exc.reason}")
    except Refused as exc:
        result.failure = f"{exc.check}: {exc.reason}"
        return result
    result.verified = True
    return result


def _integrity(subject: dict, manifest: bytes, envelope: bytes) -> tuple[dict, list]:
    data = _json(manifest, "the signature manifest")
    layers = data.get("layers") or []
    if len(layers) != 1 or layers[0].get("mediaType") != env.ENVELOPE_TYPE:
        raise Refused("integrity", "the signature manifest must have one application/jose+json "
                                   "layer")
    if layers[0].get("digest") != env.descriptor("", envelope)["digest"]:
        raise Refused("integrity", "the envelope is not the blob the signature manifest names")
    if not _same(data.get("subject"), subject):
        raise Refused("integrity", "the signature manifest's subject is another artifact")
    sealed = _json(envelope, "the envelope")
    if set(sealed) != {"payload", "protected", "header", "signature"}:
        raise Refused("integrity", "the envelope is not a flattened JWS of the Notary Project")
    header = _json(_b64url(sealed["protected"]), "the protected header")
    chain = _chain(sealed["header"])
    _headers(header)
    alg = _algorithm(chain[0])
    if header.get("alg") != alg:
        raise Refused("integrity", f"the algorithm {header.get('alg')} is not {alg}, which "
                                   "the signing certificate's key implies")
    algorithm = _algorithms()[alg]
    signing_input = f"{sealed['protected']}.{sealed['payload']}".encode()
    if not algorithm.verify(signing_input, chain[0].public_key(),
                            _b64url(sealed["signature"])):
        raise Refused("integrity", "the signature does not match the signed content")
    payload = _json(_b64url(sealed["payload"]), "the payload")
    if not _same((payload.get("targetArtifact") if isinstance(payload, dict) else None),
                 subject):
        raise Refused("integrity", "the signature signs another artifact (digest, size or "
                                   "media type differ)")
    return header, chain


def _headers(header: dict) -> None:
    if header.get("cty") != env.PAYLOAD_TYPE:
        raise Refused("integrity", f"the payload's content type must be {env.PAYLOAD_TYPE}")
    crit = header.get("crit")
    if (not isinstance(crit, list) or not all(isinstance(n, str) for n in crit)
            or env.SCHEME not in crit):
        raise Refused("integrity", "the signing scheme must be a critical header")
    for name in crit:
        if name not in _KNOWN_CRITICAL or name not in header:
            raise Refused("integrity", f"the critical header {name} is not understood here")
    if env.EXPIRY in header and env.EXPIRY not in crit:
        raise Refused("integrity", "the expiry must be a critical header")
    if (header.get(env.SCHEME) != "notary.x509" or env.SIGNING_TIME not in header
            or "io.cncf.notary.authenticSigningTime" in header):
        raise Refused("integrity", "only the notary.x509 signing scheme, with a signing time, "
                                   "is verified here")
    _when(header.get(env.SIGNING_TIME), "signing time")
    if env.EXPIRY in header:
        _when(header[env.EXPIRY], "expiry")


def _chain(unprotected) -> list[x509.Certificate]:
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                 for c in unprotected["x5c"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise Refused("integrity", "the envelope's x5c is not a certificate chain") from None
    if not chain:
        raise Refused("integrity", "the envelope carries no certificate")
    return chain


def _algorithm(leaf: x509.Certificate) -> str:
    try:
        return certificates.algorithm(leaf.public_key())
    except ChainInvalid as exc:
        raise Refused("integrity", exc.message) from None


def _authenticity(policy: TrustPolicy, trust: Trust, chain: list) -> None:
    try:
        certificates.check_chain(chain)
    except ChainInvalid as exc:
        raise Refused("authenticity", exc.message) from None
    last = chain[-1]
    if last.issuer != last.subject:
        raise Refused("authenticity", "the certificate chain does not end at a root")
    # notary.x509 signatures chain to CA stores; signingAuthority and tsa stores serve others.
    trusted = {certificates.thumbprint(c) for store in policy.trust_stores
               if store.startswith("ca:") for c in trust.stores.get(store, ())}
    if not any(certificates.thumbprint(c) in trusted for c in chain):
        raise Refused("authenticity", "no certificate of the chain is in the policy's CA "
                                      "trust stores")
    if not policy.trusts(chain[0].subject):
        raise Refused("authenticity", f"'{chain[0].subject.rfc4514_string()}' is not a "
                                      "trusted identity of the policy")


def _times(chain: list, now: datetime.datetime) -> None:
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise Refused("authenticTimestamp", f"'{cert.subject.rfc4514_string()}' is not "
                                                "valid now")


def _when(text, what: str) -> datetime.datetime:
    """An RFC 3339 time (with its offset), else the envelope is refused."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Refused("integrity", f"the {what} is not an RFC 3339 time")
    return moment


def _expiry(header: dict, now: datetime.datetime) -> None:
    if env.EXPIRY in header and now > _when(header[env.EXPIRY], "expiry"):
        raise Refused("expiry", f"the signature expired at {header[env.EXPIRY]}")


def _revocation(trust: Trust, chain: list) -> None:
    if revocation_key(chain[0]) in trust.revoked:
        raise Refused("revocation", "the signing profile that made it is revoked")


def _same(given, subject: dict) -> bool:
    return (isinstance(given, dict) and given.get("digest") == subject["digest"]
            and given.get("size") == subject["size"]
            and given.get("mediaType") == subject["mediaType"])


def _json(data: bytes, what: str):
    try:
        found = json.loads(data)
    except ValueError:
        raise Refused("integrity", f"{what} is not JSON") from None
    if not isinstance(found, dict):
        raise Refused("integrity", f"{what} is not a JSON object")
    return found


def _b64url(text) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (TypeError, ValueError, binascii.Error):
        raise Refused("integrity", "the envelope is not base64url") from None


__all__ = ["LOG", "Refused", "SignatureResult", "Trust", "verify"]
