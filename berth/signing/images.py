"""An image's signatures as a verifier sees them: every referrer that is a signature
(Notary Project, or cosign's, which are listed but not verified here), each Notary one
verified under the trust policy of the image's scope, against the caller's trust stores and
the account's own (its signing CA and the roots of its imported profiles, named
``ca:berth-<account>``), refusing what a revoked profile signed."""
from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field

from ..registry.errors import RegistryError
from ..registry.images.service import ImageId
from ..registry.images.storage_class import resolve_digest
from ..registry.references import Digest, is_digest
from ..registry.registry import Registry
from ..registry.repositories.service import require_id
from ..registry.repositories.templates import account_of
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import tags as tag_rows
from . import certificates, verification
from .models import ChainInvalid
from .envelope import ARTIFACT_TYPE
from .profiles import ProfileService
from . import trust_policy
from .trust_policy import TrustPolicy, TrustPolicyInvalid, policy_for

log = logging.getLogger("berth.signing")

COSIGN_TYPES = ("application/vnd.dev.cosign.artifact.sig.v1+json",
                "application/vnd.dev.sigstore.bundle.v0.3+json")


def store_name(account_id: str) -> str:
    return f"ca:berth-{account_id}"


def parse_stores(given: object) -> dict[str, list]:
    """{"ca:NAME": PEM text} as a request gives them."""
    if not isinstance(given, dict):
        raise ValueError("a JSON object of trust store names to PEM certificates")
    stores = {}
    for name, text in given.items():
        if not isinstance(text, str):
            raise ValueError(f"{name}: PEM text")
        try:
            stores[name] = certificates.load_chain(text)
        except ChainInvalid as exc:
            raise ValueError(f"{name}: {exc.message}") from None
    return stores


@dataclass
class Verdict:
    repository: str
    digest: str
    verified: bool
    policy: str | None
    level: str | None
    reason: str
    signatures: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _CosignTag:
    """cosign's signature stored under the tag sha256-<hex>.sig (no referrers API)."""
    digest: str
    artifact_type: str = COSIGN_TYPES[0]


class ImageSignatures:
    def __init__(self, registry: Registry, profiles: ProfileService):
        self.registry, self.profiles = registry, profiles

    def trust(self, account_id: str, extra: dict[str, list]) -> verification.Trust:
        """The caller's stores, and the account's own under its name."""
        own, revoked = self.profiles.roots(account_id), set()
        for profile in self.profiles.list(account_id):
            if not profile.trusted:
                chain = certificates.load_chain(profile.chain)
                revoked.add(verification.revocation_key(chain[0]))
        stores = {**extra, store_name(account_id): own + list(extra.get(store_name(account_id),
                                                                         ()))}
        return verification.Trust(stores, frozenset(revoked))

    def verify_request(self, repository: str, reference: str, scope: str,
                       policy_text: str, stores_text: str | None) -> Verdict:
        """A verification as a request asks it: the trust policy document and the trust
        stores ({"ca:NAME": PEM}) as given, the registry's account's own store besides."""
        try:
            stores = parse_stores(json.loads(stores_text or "{}"))
        except ValueError as exc:
            raise TrustPolicyInvalid(f"TrustStores: {exc}") from None
        with self.registry.db.read() as tx:
            account_id = account_of(tx, self.registry.registry_id)
        return self.verify(repository, reference, scope, trust_policy.parse(policy_text),
                           self.trust(account_id, stores))

    def verify(self, repository: str, reference: str, scope: str,
               policies: list[TrustPolicy], trust: verification.Trust,
               now: datetime.datetime | None = None) -> Verdict:
        """``scope``: the repository's URI (host/repository) the trust policy names."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        repo_id, subject = self._manifest(repository, reference)
        digest = subject["digest"]
        policy = policy_for(policies, scope)
        if policy is None:
            return Verdict(repository, digest, False, None, None,
                           f"no trust policy applies to {scope}")
        if policy.level == "skip":
            return Verdict(repository, digest, True, policy.name, policy.level,
                           "the trust policy skips verification")
        found = [self._check(repository, subject, row, policy, trust, now)
                 for row in self._referrers(repo_id, digest)]
        verified = any(f.get("verified") for f in found)
        reason = ("a signature passed the trust policy" if verified else
                  "no signature passed the trust policy" if found else
                  "the image has no signature")
        return Verdict(repository, digest, verified, policy.name, policy.level, reason, found)

    def _manifest(self, repository: str, reference: str) -> tuple[int, dict]:
        """The repository's id and the descriptor of the manifest a tag or digest names
        (NameUnknown, ImageNotFound as every image lookup raises them)."""
        image_id = ImageId(reference, None) if is_digest(reference) else ImageId(None, reference)
        with self.registry.db.read() as tx:
            repo_id = require_id(tx, self.registry.registry_id, repository)
            row = manifest_rows.get(tx, repo_id, resolve_digest(tx, repo_id, image_id))
        return repo_id, {"mediaType": row.media_type, "digest": row.digest, "size": row.size}

    def _referrers(self, repo_id: int, digest: str) -> list:
        """Signature referrers, and cosign's signature under its tag sha256-<hex>.sig."""
        with self.registry.db.read() as tx:
            found = [r for r in manifest_rows.referrers(tx, repo_id, digest, None)
                     if r.artifact_type in (ARTIFACT_TYPE, *COSIGN_TYPES)]
            tagged = tag_rows.get_digest(tx, repo_id, digest.replace(":", "-") + ".sig")
        if tagged is not None and tagged not in {r.digest for r in found}:
            found.append(_CosignTag(tagged))
        return found

    def _check(self, repository: str, subject: dict, row, policy: TrustPolicy,
               trust: verification.Trust, now: datetime.datetime) -> dict:
        if row.artifact_type != ARTIFACT_TYPE:
            return {"digest": row.digest, "format": "cosign", "verified": False,
                    "failure": "cosign signatures are listed, not verified, by Berth"}
        manifest = self._content(repository, row.digest)
        envelope = self._envelope(repository, manifest)
        try:
            result = verification.verify(policy, trust, subject, row.digest, manifest,
                                         envelope or b"", now)
        except Exception as exc:  # one hostile signature must not hide the others
            log.warning("signature %s of %s could not be read: %r", row.digest,
                        subject["digest"], exc)
            return {"format": "notary", "digest": row.digest, "verified": False,
                    "failure": "integrity: the signature could not be read"}
        return {"format": "notary", **result.to_json()}

    def _content(self, repository: str, digest: str) -> bytes:
        return manifest_rows.lookup(self.registry.db, self.registry.registry_id, repository,
                                    digest, False, True).content

    def _envelope(self, repository: str, manifest: bytes) -> bytes | None:
        """The envelope blob the signature manifest names (None if it has none to read:
        the integrity check then refuses it)."""
        try:
            layer = json.loads(manifest)["layers"][0]
            if int(layer["size"]) > verification.MAX_ENVELOPE:
                return None
            blob = self.registry.blobs.find(repository, Digest.parse(layer["digest"]))
        except (ValueError, KeyError, IndexError, TypeError, RegistryError):
            return None
        return b"".join(self.registry.blobs.read(blob, 0, blob.size))
