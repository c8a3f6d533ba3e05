"""Signing profiles: per account and region, a private key sealed with the master key and
its certificate chain, issued by the account's own CA (made on first use) or imported from an
organisation's CA. A revoked profile signs no more, and verifiers are told to refuse what it
signed (the trust policy export-trust writes)."""
from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from ..keys.master import MasterKey
from ..storage.metadata import identities as identity_rows
from ..storage.metadata import signing as rows
from ..storage.metadata.database import Database, Tx
from . import certificates
from .models import (
    ACTIVE,
    DEFAULT_SIGNATURE_DAYS,
    DISABLED,
    DEFAULT_VALIDITY_DAYS,
    NAME,
    ChainInvalid,
    Profile,
    ProfileExists,
    ProfileInvalid,
    ProfileNotFound,
    parse_arn,
)

MAX_PROFILES = 100  # per account


@dataclass(frozen=True)
class Signer:
    profile: Profile
    key: object          # the private key
    chain: list          # x509.Certificate, the leaf first


class ProfileService:
    def __init__(self, db: Database, master: MasterKey):
        self.db, self.master = db, master

    def create(self, account_id: str, region: str, name: str,
               validity_days: int = DEFAULT_VALIDITY_DAYS,
               signature_days: int = DEFAULT_SIGNATURE_DAYS) -> Profile:
        """A profile whose certificate the account's CA issues."""
        _check(name, validity_days, signature_days)
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key, ca_cert = self._ca(account_id, now)
        key, leaf = certificates.issue(ca_key, ca_cert, account_id, name, now, validity_days,
                                       region)
        return self._insert(account_id, region, name, key, [leaf, ca_cert], False,
                            signature_days)

    def import_profile(self, account_id: str, region: str, name: str, chain_pem: str,
                       key_pem: str, signature_days: int = DEFAULT_SIGNATURE_DAYS) -> Profile:
        """A profile with a key and chain an organisation's CA issued (PEM, the leaf
        first)."""
        _check(name, 1, signature_days)
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), None)
        except (ValueError, TypeError) as exc:
            raise ChainInvalid(f"the private key is not an unencrypted PEM key: {exc}") from None
        chain = certificates.load_chain(chain_pem)
        certificates.check_chain(chain, key)
        return self._insert(account_id, region, name, key, chain, True, signature_days)

    def _insert(self, account_id: str, region: str, name: str, key, chain: list,
                imported: bool, signature_days: int) -> Profile:
        profile_id = str(uuid.uuid4())
        sealed = self.master.seal(certificates.key_bytes(key), _context(profile_id))
        with self.db.write() as tx:
            _require_account(tx, account_id)
            if rows.profile(tx, account_id, region, name) is not None:
                raise ProfileExists(f"A signing profile named '{name}' already exists")
            if imported and _subject_taken(tx, account_id, chain[0]):
                raise ChainInvalid("another signing profile of the account has this "
                                   "certificate's subject: verifiers could not tell them apart")
            if len(rows.profiles_of(tx, account_id)) >= MAX_PROFILES:
                raise ProfileInvalid(f"an account has at most {MAX_PROFILES} signing profiles")
            rows.insert_profile(tx, {
                "id": profile_id, "account_id": account_id, "region": region, "name": name,
                "chain": certificates.pem(chain), "private_key": sealed,
                "imported": int(imported), "status": ACTIVE,
                "validity_seconds": signature_days * 86400, "created_at": time.time()})
            return Profile.from_row(rows.profile(tx, account_id, region, name))

    def _ca(self, account_id: str, now: datetime.datetime):
        """The account's CA (key, certificate), made on first use."""
        with self.db.read() as tx:
            found = rows.ca(tx, account_id)
        if found is None:
            key, cert = certificates.make_ca(account_id, now)
            with self.db.write() as tx:
                _require_account(tx, account_id)
                rows.insert_ca(tx, account_id, certificates.pem([cert]),
                               self.master.seal(certificates.key_bytes(key),
                                                _ca_context(account_id)), time.time())
                found = rows.ca(tx, account_id)  # ours, or a concurrent first use's
        key = certificates.load_key(self.master.open(found.private_key, _ca_context(account_id)))
        return key, certificates.load_chain(found.certificate)[0]

    def roots(self, account_id: str) -> list:
        """What verifiers of the account's signatures trust: its CA (once it has one) and
        the roots its imported profiles chain to, each once. Reads no private key."""
        with self.db.read() as tx:
            ca = rows.ca(tx, account_id)
            chains = [certificates.load_chain(r.chain) for r in rows.profiles_of(tx, account_id)]
        found = [certificates.load_chain(ca.certificate)[0]] if ca is not None else []
        for chain in chains:
            root = chain[-1]
            if root.issuer == root.subject and root not in found:
                found.append(root)
        return found

    def list(self, account_id: str) -> list[Profile]:
        with self.db.read() as tx:
            return [Profile.from_row(r) for r in rows.profiles_of(tx, account_id)]

    def get(self, account_id: str, region: str, name: str) -> Profile:
        with self.db.read() as tx:
            return _find(tx, account_id, region, name)

    def rotate(self, account_id: str, region: str, name: str) -> Profile:
        """A new key and certificate (same subject, same CA) for a profile the account's CA
        issued: what it signed before still verifies; what it signs now uses the new key."""
        with self.db.read() as tx:
            found = _find(tx, account_id, region, name)
        if found.imported:
            raise ProfileInvalid(f"'{name}' was imported: import its new chain and key as a "
                                 "new profile, then revoke or disable this one")
        if not found.trusted:
            raise ProfileInvalid(f"'{name}' is revoked: it cannot be rotated")
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key, ca_cert = self._ca(account_id, now)
        old = certificates.load_chain(found.chain)[0]
        days = max(1, (old.not_valid_after_utc - old.not_valid_before_utc).days)
        key, leaf = certificates.issue(ca_key, ca_cert, account_id, name, now, days, region)
        sealed = self.master.seal(certificates.key_bytes(key), _context(found.id))
        with self.db.write() as tx:
            if not rows.rekey(tx, found.id, certificates.pem([leaf, ca_cert]), sealed):
                raise ProfileInvalid(f"'{name}' is revoked: it cannot be rotated")
            return _find(tx, account_id, region, name)

    def set_enabled(self, account_id: str, region: str, name: str, enabled: bool) -> Profile:
        """A disabled profile signs nothing until enabled again; what it signed stays
        valid (revoking is the way to refuse that)."""
        with self.db.write() as tx:
            found = _find(tx, account_id, region, name)
            if not found.trusted:
                raise ProfileInvalid(f"'{name}' is revoked: it cannot be "
                                     f"{'enabled' if enabled else 'disabled'}")
            wanted, was = (ACTIVE, DISABLED) if enabled else (DISABLED, ACTIVE)
            rows.set_status(tx, found.id, was, wanted)
            return _find(tx, account_id, region, name)

    def revoke(self, account_id: str, region: str, name: str) -> Profile:
        with self.db.write() as tx:
            found = _find(tx, account_id, region, name)
            rows.revoke(tx, found.id, time.time())
            return Profile.from_row(rows.profile(tx, account_id, region, name))

    def status(self, arn: str, tx: Tx) -> str | None:
        """The status of the profile an ARN names (None if there is none), in ``tx``."""
        parts = parse_arn(arn)
        row = None if parts is None else rows.profile(tx, parts[1], parts[0], parts[2])
        return None if row is None else row.status

    def signer(self, arn: str) -> Signer:
        """The profile an ARN names, with its opened key; ProfileNotFound if none."""
        parts = parse_arn(arn)
        if parts is None:
            raise ProfileNotFound(f"'{arn}' is not a signing profile ARN")
        region, account_id, name = parts
        with self.db.read() as tx:
            profile = _find(tx, account_id, region, name)
            sealed = rows.profile_key(tx, profile.id)
        key = certificates.load_key(self.master.open(sealed, _context(profile.id)))
        return Signer(profile, key, certificates.load_chain(profile.chain))


def _find(tx: Tx, account_id: str, region: str, name: str) -> Profile:
    row = rows.profile(tx, account_id, region, name)
    if row is None:
        raise ProfileNotFound(f"The signing profile '{name}' does not exist in account "
                              f"{account_id} ({region})")
    return Profile.from_row(row)


def _subject_taken(tx: Tx, account_id: str, leaf) -> bool:
    """Whether a profile's certificate subject overlaps the leaf's: one's attributes a
    subset of the other's, so that a trusted identity naming one would match the other
    (Notation matches identities as subsets: revoking one must not leave it trusted)."""
    mine = set(leaf.subject)
    for row in rows.profiles_of(tx, account_id):
        theirs = set(certificates.load_chain(row.chain)[0].subject)
        if mine <= theirs or theirs <= mine:
            return True
    return False


def _require_account(tx: Tx, account_id: str) -> None:
    if identity_rows.find_account(tx, "id", account_id) is None:
        raise ProfileNotFound(f"Account {account_id} does not exist")


def _check(name: str, validity_days: int, signature_days: int) -> None:
    if not NAME.fullmatch(name):
        raise ProfileInvalid(f"'{name}' is not a valid profile name: 2 to 64 letters, digits "
                             "or underscores")
    if not 1 <= validity_days <= 365 * certificates.CA_YEARS:
        raise ProfileInvalid(f"the certificate's validity must be 1 to "
                             f"{365 * certificates.CA_YEARS} days")
    if not 0 <= signature_days <= 365 * certificates.CA_YEARS:
        raise ProfileInvalid("a signature's validity must be 0 (no expiry) to "
                             f"{365 * certificates.CA_YEARS} days")


def _context(profile_id: str) -> str:
    return f"signing-profile:{profile_id}"


def _ca_context(account_id: str) -> str:
    return f"signing-ca:{account_id}"
