"""Matching the caller against a resource policy's ``Principal`` and ``NotPrincipal``.

* ``"*"`` and ``{"AWS": "*"}`` match everyone, anonymous callers included.
* An account (``"123456789012"`` or ``arn:aws:iam::123456789012:root``) matches every principal
  of that account, but only as a grant *to the account*: IAM then requires the account to pass
  it on with an identity-based policy. ``match_principal`` reports that as ``ACCOUNT`` so the
  evaluator can ask for the identity-side allow (the account's root user needs none).
* A user, role-session or federated-user ARN matches that caller exactly (case-sensitively); a
  role ARN also matches every session of the role; a unique ID (``AIDA...``/``AROA...``) matches
  the user or the role's sessions. These are ``DIRECT`` grants.
* ``Service`` entries match a service principal by name; ``Federated`` and ``CanonicalUser``
  entries match a caller whose ``arn`` is exactly that value.

``NotPrincipal`` excludes a caller only when it names every identity in the caller's chain: the
account, the role (for a role session) and the caller itself. This is how the IAM guide says to
write it ("you must also specify the account ARN of the not-denied principal"), and naming the
user alone leaves the user's account - and so the user - denied.
"""
from __future__ import annotations

import re
from enum import IntEnum

from .context import Principal
from .document import PrincipalElement

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:[a-z0-9-]+:iam::(\d{12}):root$")


class PrincipalMatch(IntEnum):
    NONE = 0
    ACCOUNT = 1  # granted to the caller's account, which must delegate it
    DIRECT = 2   # granted to the caller itself (or to everyone)


def entry_account(value: str) -> str | None:
    """The account an ``AWS`` principal entry names as a whole, if it names an account."""
    if _ACCOUNT_ID.match(value):
        return value
    match = _ROOT_ARN.match(value)
    return match.group(1) if match else None


def _unique_id_matches(value: str, principal: Principal) -> bool:
    if not principal.userid:
        return False
    return value == principal.userid or value == principal.userid.split(":", 1)[0]


def _aws_entry(value: str, principal: Principal) -> PrincipalMatch:
    if value == "*":
        return PrincipalMatch.DIRECT
    if principal.kind in ("anonymous", "service"):
        return PrincipalMatch.NONE
    account = entry_account(value)
    if account is not None:
        if account != principal.account_id:
            return PrincipalMatch.NONE
        return PrincipalMatch.DIRECT if principal.kind == "root" else PrincipalMatch.ACCOUNT
    if value == principal.arn or (principal.role_arn is not None and value == principal.role_arn):
        return PrincipalMatch.DIRECT
    if _unique_id_matches(value, principal):
        return PrincipalMatch.DIRECT
    return PrincipalMatch.NONE


def match_principal(element: PrincipalElement, principal: Principal) -> PrincipalMatch:
    """How (and whether) a ``Principal`` element covers the caller."""
    if element.everyone:
        return PrincipalMatch.DIRECT
    best = PrincipalMatch.NONE
    for ptype, value in element.entries:
        if ptype == "AWS":
            found = _aws_entry(value, principal)
        elif ptype == "Service":
            found = PrincipalMatch.DIRECT if principal.kind == "service" and (
                value == "*" or value == principal.arn) else PrincipalMatch.NONE
        else:
            found = PrincipalMatch.DIRECT if principal.arn is not None and (
                value == principal.arn) else PrincipalMatch.NONE
        if found > best:
            best = found
            if best is PrincipalMatch.DIRECT:
                break
    return best


def _names_identity(element: PrincipalElement, identity: str, principal: Principal) -> bool:
    for ptype, value in element.entries:
        if value == "*" or value == identity:
            return True
        if ptype == "AWS":
            account = entry_account(value)
            if account is not None and identity == f"arn:{principal.partition}:iam::{account}:root":
                return True
            if identity == principal.arn and _unique_id_matches(value, principal):
                return True
    return False


def excluded_by_not_principal(element: PrincipalElement, principal: Principal) -> bool:
    """Whether ``NotPrincipal`` names the caller (so the statement does not apply to it)."""
    if element.everyone:
        return True
    chain = principal.identities()
    if not chain:  # an anonymous caller is named only by "*"
        return any(value == "*" for _, value in element.entries)
    return all(_names_identity(element, identity, principal) for identity in chain)
