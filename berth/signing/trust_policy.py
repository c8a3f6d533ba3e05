"""Notation's trust policy document (version 1.0), as the Notary Project's trust store and
trust policy specification defines it: policies per registry scope (exact repository URIs,
or one global ``*``), a verification level (strict, permissive, audit, skip) with per-check
overrides, named trust stores, and trusted identities (``*`` or an ``x509.subject:`` that
must name at least C, ST and O, matched as a subset of the signing certificate's subject)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography import x509

from .models import SigningError

CHECKS = ("integrity", "authenticity", "authenticTimestamp", "expiry", "revocation")
ENFORCE, LOG, SKIP = "enforce", "log", "skip"
LEVELS = {
    "strict": dict.fromkeys(CHECKS, ENFORCE),
    "permissive": {"integrity": ENFORCE, "authenticity": ENFORCE,
                   "authenticTimestamp": LOG, "expiry": LOG, "revocation": LOG},
    "audit": {"integrity": ENFORCE, "authenticity": LOG, "authenticTimestamp": LOG,
              "expiry": LOG, "revocation": LOG},
    "skip": dict.fromkeys(CHECKS, SKIP),
}
_OVERRIDES = {"authenticity": (ENFORCE, LOG), "authenticTimestamp": (ENFORCE, LOG),
              "expiry": (ENFORCE, LOG), "revocation": (ENFORCE, LOG, SKIP)}
_NAMES = {"C": "C", "ST": "ST", "S": "ST", "L": "L", "O": "O", "OU": "OU", "CN": "CN"}
_OIDS = {"C": x509.NameOID.COUNTRY_NAME, "ST": x509.NameOID.STATE_OR_PROVINCE_NAME,
         "L": x509.NameOID.LOCALITY_NAME, "O": x509.NameOID.ORGANIZATION_NAME,
         "OU": x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": x509.NameOID.COMMON_NAME}


class TrustPolicyInvalid(SigningError):
    code = "TRUST_POLICY_INVALID"


@dataclass(frozen=True)
class TrustPolicy:
    name: str
    scopes: tuple[str, ...]
    level: str
    actions: dict            # check -> enforce | log | skip
    trust_stores: tuple[str, ...]   # "ca:name", "signingAuthority:name"
    identities: tuple[dict | None, ...]   # None: "*"

    def trusts(self, subject: x509.Name) -> bool:
        return any(i is None or _subset(i, subject) for i in self.identities)


def parse(document: str | dict) -> list[TrustPolicy]:
    try:
        data = json.loads(document) if isinstance(document, str) else document
    except ValueError as exc:
        raise TrustPolicyInvalid(f"the trust policy is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != "1.0":
        raise TrustPolicyInvalid('a trust policy document has "version": "1.0"')
    policies = data.get("trustPolicies")
    if not isinstance(policies, list) or not policies:
        raise TrustPolicyInvalid("trustPolicies must be a non-empty list")
    parsed = [_policy(p) for p in policies]
    _check_scopes(parsed)
    return parsed


def _policy(data: dict) -> TrustPolicy:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise TrustPolicyInvalid("every trust policy has a name")
    name = data["name"]
    scopes = data.get("registryScopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise TrustPolicyInvalid(f"trust policy '{name}': registryScopes must list scopes")
    if "*" in scopes and len(scopes) > 1:
        raise TrustPolicyInvalid(f"trust policy '{name}': '*' must be the only scope")
    verification = data.get("signatureVerification") or {}
    override = verification.get("override") if isinstance(verification, dict) else None
    if not isinstance(verification, dict) or not isinstance(override or {}, dict):
        raise TrustPolicyInvalid(f"trust policy '{name}': signatureVerification is an object "
                                 "with a level and an optional override object")
    level = verification.get("level")
    if not isinstance(level, str) or level not in LEVELS:
        raise TrustPolicyInvalid(f"trust policy '{name}': the level must be one of "
                                 f"{', '.join(LEVELS)}")
    actions = dict(LEVELS[level])
    for check, action in (override or {}).items():
        if level == "skip" or check not in _OVERRIDES or action not in _OVERRIDES[check]:
            raise TrustPolicyInvalid(f"trust policy '{name}': override {check}={action} is "
                                     "not allowed")
        actions[check] = action
    stores = _strings(name, data, "trustStores")
    identities = _strings(name, data, "trustedIdentities")
    if level != "skip" and (not stores or not identities):
        raise TrustPolicyInvalid(f"trust policy '{name}': trustStores and trustedIdentities "
                                 "are required unless the level is skip")
    for store in stores:
        kind, _, store_name = store.partition(":")
        if kind not in ("ca", "signingAuthority", "tsa") or not store_name:
            raise TrustPolicyInvalid(f"trust policy '{name}': '{store}' is not a trust store "
                                     "(ca:NAME, signingAuthority:NAME or tsa:NAME)")
    return TrustPolicy(name, tuple(scopes), level, actions, stores,
                       tuple(_identity(name, i) for i in identities))


def _strings(policy: str, data: dict, key: str) -> tuple[str, ...]:
    found = data.get(key) or []
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        raise TrustPolicyInvalid(f"trust policy '{policy}': {key} is a list of strings")
    return tuple(found)


def _check_scopes(policies: list[TrustPolicy]) -> None:
    seen: dict[str, str] = {}
    for policy in policies:
        for scope in policy.scopes:
            if scope in seen:
                raise TrustPolicyInvalid(f"the scope '{scope}' is in trust policies "
                                         f"'{seen[scope]}' and '{policy.name}'")
            if scope == "*" and policy.level == "skip":
                raise TrustPolicyInvalid("the global trust policy ('*') cannot skip "
                                         "verification")
            seen[scope] = policy.name


def _identity(policy: str, text: str) -> dict | None:
    if text == "*":
        return None
    prefix, _, value = text.partition(":")
    if prefix.strip() != "x509.subject" or not value.strip():
        raise TrustPolicyInvalid(f"trust policy '{policy}': '{text}' is not '*' or "
                                 "'x509.subject: ...'")
    found: dict[str, str] = {}
    for part in _split(value):
        key, sep, val = part.partition("=")
        key = _NAMES.get(key.strip().upper())
        if not sep or key is None or key in found:
            raise TrustPolicyInvalid(f"trust policy '{policy}': '{part}' in '{text}' is not "
                                     "one RDN of C, ST, L, O, OU, CN")
        found[key] = val.strip()
    if not {"C", "ST", "O"} <= set(found):
        raise TrustPolicyInvalid(f"trust policy '{policy}': a trusted identity names at least "
                                 "C, ST and O")
    return found


def _split(value: str) -> list[str]:
    """RDNs separated by commas; ``\\,`` is a comma inside a value."""
    parts, current, escaped = [], "", False
    for char in value:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in [*parts, current] if p.strip()]


def _subset(identity: dict, subject: x509.Name) -> bool:
    for key, value in identity.items():
        values = [a.value for a in subject.get_attributes_for_oid(_OIDS[key])]
        if values != [value]:
            return False
    return True


def policy_for(policies: list[TrustPolicy], scope: str) -> TrustPolicy | None:
    """The policy of an artifact's repository URI (``host/repository``): its exact scope
    first, else the global one."""
    exact = next((p for p in policies if scope in p.scopes), None)
    return exact or next((p for p in policies if "*" in p.scopes), None)
