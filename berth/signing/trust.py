"""What a verifier needs to trust an account's signatures, in Notation's terms: one trust
store (``ca:berth-<account>``: the account's signing CA and the roots of its imported
profiles) and a trust policy naming the active profiles' certificates as its trusted
identities -- a revoked profile is left out, so a verifier given the policy refuses what it
signed."""
from __future__ import annotations

from cryptography import x509

from . import certificates
from .images import store_name
from .models import ProfileInvalid

_RDNS = (("C", x509.NameOID.COUNTRY_NAME), ("ST", x509.NameOID.STATE_OR_PROVINCE_NAME),
         ("L", x509.NameOID.LOCALITY_NAME), ("O", x509.NameOID.ORGANIZATION_NAME),
         ("OU", x509.NameOID.ORGANIZATIONAL_UNIT_NAME), ("CN", x509.NameOID.COMMON_NAME))


def identity(subject: x509.Name) -> str | None:
    """A certificate subject as a Notation trusted identity; None if it lacks C, ST or O."""
    parts = []
    for key, oid in _RDNS:
        values = subject.get_attributes_for_oid(oid)
        if len(values) > 1:
            return None
        if values:
            value = str(values[0].value).replace("\\", "\\\\").replace(",", "\\,")
            parts.append(f"{key}={value}")
    names = {p.split("=", 1)[0] for p in parts}
    return "x509.subject: " + ", ".join(parts) if {"C", "ST", "O"} <= names else None


def export(profiles, account_id: str) -> dict:
    """The trust store's certificates (PEM) and the trust policy of the account."""
    identities = []
    for profile in profiles.list(account_id):
        chain = certificates.load_chain(profile.chain)
        named = identity(chain[0].subject)
        if profile.trusted and named is not None and named not in identities:
            identities.append(named)
    if not identities:
        raise ProfileInvalid(f"account {account_id} has no signing profile to trust (none "
                             "was made, or all are revoked)")
    roots = profiles.roots(account_id)
    name = store_name(account_id)
    return {"TrustStoreName": name.split(":", 1)[1], "Certificates": certificates.pem(roots),
            "TrustPolicy": {"version": "1.0", "trustPolicies": [{
                "name": name.split(":", 1)[1], "registryScopes": ["*"],
                "signatureVerification": {"level": "strict"}, "trustStores": [name],
                "trustedIdentities": identities}]}}
