"""Notary Project signatures: the JWS envelope (JSON serialization, the signing scheme
``notary.x509``) over a payload naming the signed manifest, and the OCI manifest that carries
it as a referrer of that manifest. PyJWT makes the JWS; this module only lays it out as the
specification does."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json

from cryptography.hazmat.primitives import serialization

from . import certificates

ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
ENVELOPE_TYPE = "application/jose+json"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
THUMBPRINTS = "io.cncf.notary.x509chain.thumbprint#S256"
SCHEME, SIGNING_TIME, EXPIRY = ("io.cncf.notary.signingScheme", "io.cncf.notary.signingTime",
                                "io.cncf.notary.expiry")
AGENT = "io.cncf.notary.signingAgent"


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def sign(target: dict, key, chain: list, signing_time: datetime.datetime,
         expiry: datetime.datetime | None, agent: str) -> bytes:
    """The envelope (JWS JSON serialization) signing ``target``, a descriptor (mediaType,
    digest, size) of the manifest."""
    payload = json.dumps({"targetArtifact": target}, separators=(",", ":")).encode()
    protected = {"typ": None, "cty": PAYLOAD_TYPE, SCHEME: "notary.x509",
                 SIGNING_TIME: rfc3339(signing_time), "crit": [SCHEME]}
    if expiry is not None:
        protected[EXPIRY] = rfc3339(expiry)
        protected["crit"] = [SCHEME, EXPIRY]
    import jwt  # loaded with the first signature (see berth.iam.jwks)

    compact = jwt.PyJWS().encode(payload, key, algorithm=certificates.algorithm(key),
                                 headers=protected)
    header_b64, payload_b64, signature_b64 = compact.split(".")
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
           for c in chain]
    return json.dumps({"payload": payload_b64, "protected": header_b64,
                       "header": {"x5c": x5c, AGENT: agent},
                       "signature": signature_b64}, separators=(",", ":")).encode()


def descriptor(media_type: str, body: bytes) -> dict:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body)}


def signature_manifest(target: dict, envelope: bytes, chain: list,
                       signing_time: datetime.datetime) -> bytes:
    """The referrer that carries ``envelope``: an OCI manifest of artifact type
    ``application/vnd.cncf.notary.signature`` whose subject is the signed manifest."""
    thumbprints = json.dumps([certificates.thumbprint(c) for c in chain],
                             separators=(",", ":"))
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
        "config": descriptor(EMPTY_TYPE, EMPTY),
        "layers": [descriptor(ENVELOPE_TYPE, envelope)],
        "subject": {"mediaType": target["mediaType"], "digest": target["digest"],
                    "size": target["size"]},
        "annotations": {THUMBPRINTS: thumbprints,
                        "org.opencontainers.image.created": rfc3339(signing_time)},
    }, separators=(",", ":")).encode()
