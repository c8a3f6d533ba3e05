"""Managed signing as background work: the outbox subscriber asks, for each new image
pushed to a repository a signing rule matches, a signature per profile (a referrer, so the
push itself never waits); the job makes the Notary Project signature and pushes it beside the
image; deletions forget the statuses. A job a killed worker held runs again: signing twice
leaves two valid signatures, never a half-written one (blobs first, the manifest last)."""
from __future__ import annotations

import datetime
import logging
import re
import time
from typing import Callable

from ..events import IMAGE_DELETED, IMAGE_PUSHED, REPOSITORY_DELETED, Event, Subscriber
from ..jobs.queue import JobQueue
from ..jobs.runner import JobRunner
from ..quotas.models import QuotaExceeded
from ..registry.errors import NameUnknown
from ..registry.images.deletion import delete_tree
from ..registry.references import Digest
from ..registry.registry import Registry
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import repositories as repository_rows
from ..storage.metadata import signing as rows
from . import configuration, envelope
from .images import COSIGN_TYPES
from .models import ACTIVE, DISABLED, ProfileNotFound, parse_arn
from .profiles import ProfileService, Signer
from .services import COMPLETE, FAILED, SIGN_JOB, request

log = logging.getLogger("berth.signing")

NAME = "signing"
SIGNATURE_TYPES = {envelope.ARTIFACT_TYPE, *COSIGN_TYPES,
                   "application/vnd.dev.cosign.simplesigning.v1+json"}
_COSIGN_TAG = re.compile(r"sha256-[0-9a-f]{64}\.(sig|att|sbom)")
AGENT = "Berth managed signing"
MAX_ATTEMPTS = 3
SIGN_ACTION = "signer:SignPayload"


class ImageGone(Exception):
    """The image (or its repository) was deleted before it was signed."""


class SigningFailed(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def subscriber(queue: JobQueue) -> Subscriber:
    def handle(tx, events: list[Event]) -> None:
        configs: dict[int, configuration.SigningConfiguration | None] = {}
        for event in events:
            if event.kind == IMAGE_DELETED:
                rows.forget_image(tx, event.payload["repositoryId"], event.payload["digest"])
            elif event.kind == REPOSITORY_DELETED:
                rows.forget_repository(tx, event.payload["repositoryId"])
            elif event.kind == IMAGE_PUSHED and _signable(event):
                if event.registry_id not in configs:
                    configs[event.registry_id] = configuration.read(tx, event.registry_id)
                config = configs[event.registry_id]
                for arn in config.profiles_for(event.repository) if config else ():
                    request(tx, queue, event.registry_id, event.payload["repositoryId"],
                            event.repository, event.payload["digest"], arn, event.created_at,
                            event.payload.get("pusher"))

    return Subscriber(NAME, handle)


def _signable(event: Event) -> bool:
    """A new manifest that is not a referrer (a signature, an SBOM...) nor a signature of
    cosign's (its tag sha256-<hex>.sig names what it signs): signatures are not signed."""
    p = event.payload
    return (bool(p.get("created")) and not p.get("subject")
            and p.get("artifactType") not in SIGNATURE_TYPES
            and not _COSIGN_TAG.fullmatch(p.get("tag") or ""))


def register(runner: JobRunner, registry: Registry, profiles: ProfileService,
             key_allows: Callable[[str, str, str], bool]) -> None:
    runner.register(SIGN_JOB, lambda job: run(registry, profiles, job.payload, job.attempt,
                                              key_allows))


def run(registry: Registry, profiles: ProfileService, p: dict, attempt: int,
        key_allows: Callable[[str, str, str], bool]) -> None:
    """One signing job: sign, then record how it went (unless the image went meanwhile).
    ``key_allows(access key id, action, resource)``: IAM's answer for the pusher, who must
    be allowed signer:SignPayload on the profile (as ECR asks of whoever pushes)."""
    scoped = registry.scoped(p["registryId"])
    try:
        if p.get("pusher") and not key_allows(p["pusher"], SIGN_ACTION, p["profileArn"]):
            raise SigningFailed("ACCESS_DENIED", f"The pusher ({p['pusher']}) is not "
                                f"authorized to perform {SIGN_ACTION} on {p['profileArn']}")
        digest = sign_image(scoped, profiles, p["repositoryId"], p["repository"], p["digest"],
                            p["profileArn"])
        outcome = (COMPLETE, None, digest)
    except ImageGone:
        return
    except SigningFailed as exc:
        outcome = (FAILED, (exc.code, exc.reason[:1000]), None)
    except Exception as exc:
        if attempt < MAX_ATTEMPTS:
            raise  # storage or database trouble: the job runs again
        log.warning("signing %s@%s failed: %s", p["repository"], p["digest"], exc)
        outcome = (FAILED, ("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"[:1000]), None)
    with scoped.db.write() as tx:
        if outcome[0] == COMPLETE:
            outcome = _settle(tx, scoped.registry_id, p, outcome, profiles.status(
                p["profileArn"], tx))
        if manifest_rows.get(tx, p["repositoryId"], p["digest"]) is not None:
            rows.put_status(tx, p["repositoryId"], p["digest"], p["profileArn"], outcome[0],
                            time.time(), outcome[1], outcome[2])


def _settle(tx, registry_id: int, p: dict, outcome: tuple, status: str | None) -> tuple:
    """The signature just pushed stays only if its image is still there and its profile
    still signs (revoked or disabled meanwhile: FAILED, and the signature goes)."""
    gone = manifest_rows.get(tx, p["repositoryId"], p["digest"]) is None
    failure = _unusable(p["profileArn"], status)
    if (gone or failure) and manifest_rows.get(tx, p["repositoryId"], outcome[2]) is not None:
        delete_tree(tx, registry_id, p["repositoryId"], p["repository"], outcome[2])
    return (FAILED, failure, None) if failure else outcome


def _unusable(arn: str, status: str | None) -> tuple[str, str] | None:
    """Why a profile of this status signs nothing (None: it signs); None status: gone."""
    if status == ACTIVE:
        return None
    if status == DISABLED:
        return "SIGNING_PROFILE_DISABLED", f"The signing profile {arn} is disabled"
    return "SIGNING_PROFILE_REVOKED", f"The signing profile {arn} is revoked"


def sign_image(registry: Registry, profiles: ProfileService, repo_id: int, repository: str,
               digest: str, profile_arn: str) -> str:
    """Sign the image and push its signature; the signature manifest's digest.
    ImageGone if the image is gone; SigningFailed for what retrying cannot mend."""
    with registry.db.read() as tx:
        repo = repository_rows.find(tx, registry.registry_id, repository)
        found = manifest_rows.get(tx, repo_id, digest)
        if repo is None or repo.id != repo_id or found is None:
            raise ImageGone(digest)
        owner = registry_rows.settings(tx, registry.registry_id, False)
    signer = _signer(profiles, profile_arn, owner.region, owner.account_id)
    target = {"mediaType": found.media_type, "digest": digest, "size": found.size}
    now = datetime.datetime.now(datetime.timezone.utc)
    seconds = signer.profile.validity_seconds
    expiry = now + datetime.timedelta(seconds=seconds) if seconds else None
    body = envelope.sign(target, signer.key, signer.chain, now, expiry, AGENT)
    manifest = envelope.signature_manifest(target, body, signer.chain, now)
    try:
        for blob in (envelope.EMPTY, body):
            registry.uploads.put_small(repository, Digest.of(blob), blob, may_create=False)
        return str(registry.manifests.put(repository, None, manifest, envelope.OCI_MANIFEST,
                                          create=False).digest)
    except NameUnknown:
        raise ImageGone(digest) from None
    except QuotaExceeded as exc:
        raise SigningFailed("LIMIT_EXCEEDED", exc.message) from None


def _signer(profiles: ProfileService, arn: str, region: str, account_id: str) -> Signer:
    parts = parse_arn(arn)
    if parts is None or parts[:2] != (region, account_id):
        raise SigningFailed("ACCESS_DENIED", f"The signing profile {arn} is not one of this "
                            "registry's account and region: a registry signs with its own "
                            "account's profiles of its region")
    try:
        signer = profiles.signer(arn)
    except ProfileNotFound:
        raise SigningFailed("SIGNING_PROFILE_NOT_FOUND",
                            f"The signing profile {arn} does not exist") from None
    failure = _unusable(arn, signer.profile.status)
    if failure:
        raise SigningFailed(*failure)
    leaf = signer.chain[0]
    if leaf.not_valid_after_utc <= datetime.datetime.now(datetime.timezone.utc):
        raise SigningFailed("SIGNING_PROFILE_EXPIRED",
                            f"The certificate of the signing profile {arn} has expired")
    return signer
