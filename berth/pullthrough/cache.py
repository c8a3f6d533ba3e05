"""Serving through a pull-through cache: the registry's own answer first; only a miss (or a
tag due for its refresh) in a repository a rule covers goes to the upstream. A manifest
fetched is served at once and kept as pending until its import (a job) has stored its blobs
and made it an image; a blob is stored while it streams to the client. When the upstream
fails, what is cached is served (stale), and the failure is logged and counted."""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from typing import Callable

from ..concurrency import blocking, quick_read, read_work
from ..jobs.queue import JobQueue
from ..observability import metrics
from ..registry.blobs.service import StoredBlob
from ..registry.errors import BlobUnknown, ManifestUnknown, NameUnknown, RegistryError
from ..registry.images.format import MANIFEST_TYPES
from ..registry.images.manifests import StoredManifest, accepts
from ..registry.errors import ManifestNotAcceptable
from ..registry.endpoints import split_url
from ..registry.references import Digest, is_digest
from ..registry.registry import Registry
from ..registry.repositories import create_from
from ..registry.repositories.templates import PULL_THROUGH_CACHE, for_purpose
from ..secrets.ecr_login import EcrLogin
from ..storage.metadata import pullthrough as rows
from ..storage.metadata import repositories as repository_rows
from .claims import Claim, stored_by_holder
from .errors import (
    CredentialUnusable,
    ImportNeedsPermission,
    UpstreamThrottled,
    UpstreamUnavailable,
)
from .fetch import Fetch, Fetches
from .rules import Rule, RuleService, rule_for
from .upstream import Upstream, UpstreamError

log = logging.getLogger("berth.pullthrough")

IMPORT_JOB = "pullthrough-import"
IMPORT_ATTEMPTS = 5  # then the import failed for good (its event says so)
REFRESH_SECONDS = 24 * 3600.0  # ECR: a cached tag is checked upstream at most once a day
RULES_SECONDS = 5.0            # how long a node trusts the rules it read
ACCEPT = sorted(MANIFEST_TYPES)
DEFAULT_REGION = "us-east-1"  # of an upstream whose secret and host name none
_ECR_HOST = re.compile(r"[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")

Secrets = Callable[[str], dict]


class PullThrough:
    def __init__(self, root: Registry, secrets: Secrets, queue: JobQueue,
                 refresh_seconds: float = REFRESH_SECONDS, timeout: float = 30.0,
                 ca_file: str | None = None):
        self.root, self.secrets, self.queue = root, secrets, queue
        self.refresh_seconds = refresh_seconds
        self.timeout, self.ca_file = timeout, ca_file
        self.fetches = Fetches()
        self._rules: dict[int, tuple[float, list[Rule]]] = {}
        self._upstreams: dict[tuple, Upstream] = {}
        self._lock = threading.Lock()

    # -- rules and upstreams ------------------------------------------------------------
    def rules(self, registry: Registry) -> RuleService:
        """The registry's rules, as the ECR API manages them."""
        return RuleService(registry.db, registry.registry_id, self.secrets)

    def rule(self, registry_id: int, repository: str, fresh: bool = False) -> Rule | None:
        """The rule covering the repository, as read lately (``fresh``: read now)."""
        cached = self._rules.get(registry_id)
        if fresh or cached is None or cached[0] < time.monotonic():
            with self.root.db.read() as tx:
                found = [Rule.from_row(r) for r in rows.rules(tx, registry_id)]
            cached = self._rules[registry_id] = (time.monotonic() + RULES_SECONDS, found)
        return rule_for(cached[1], repository)

    async def rule_async(self, registry_id: int, repository: str) -> Rule | None:
        """As ``rule``, without leaving the loop while the rules read lately hold."""
        cached = self._rules.get(registry_id)
        if cached is not None and cached[0] >= time.monotonic():
            return rule_for(cached[1], repository)
        return await quick_read(self.root.db.inline_reads, self.rule, registry_id, repository)

    def forget_rules(self, registry_id: int) -> None:
        self._rules.pop(registry_id, None)

    def upstream(self, rule: Rule) -> Upstream:
        """The rule's upstream client (shared: it pools connections and keeps tokens)."""
        value = self.secrets(rule.credential_arn) if rule.credential_arn else None
        fingerprint = hashlib.sha256(repr(sorted((value or {}).items())).encode()).hexdigest()
        key = (rule.upstream_url, fingerprint)
        with self._lock:
            found = self._upstreams.get(key)
            if found is None:
                found = self._upstreams[key] = Upstream(
                    rule.upstream_url, upstream_credentials(rule.upstream_url, value),
                    timeout=self.timeout, ca_file=self.ca_file)
        return found

    def close(self) -> None:
        with self._lock:
            upstreams, self._upstreams = list(self._upstreams.values()), {}
        for upstream in upstreams:
            upstream.close()

    # -- manifests ------------------------------------------------------------------------
    async def manifest(self, reg: Registry, name: str, reference: str,
                       accepted: list[str] | None, *, with_content: bool = True,
                       record_pull: bool = False, principal: str | None = None,
                       may_import: bool | None = None) -> StoredManifest:
        """A manifest as the registry serves it, through the cache where a rule covers the
        repository. ``may_import``: None until the front-end knows whether the caller may
        import (ImportNeedsPermission asks), then its answer."""
        try:
            found = await reg.manifests.fetch(name, reference, accepted,
                                              with_content=with_content,
                                              record_pull=record_pull, principal=principal)
        except (NameUnknown, ManifestUnknown) as miss:
            # Misses read the rules afresh: one made a moment ago on another node counts.
            rule = await blocking(self.rule, reg.registry_id, name, True)
            if rule is None:
                raise
            return await self._missing(reg, rule, name, reference, accepted, may_import, miss)
        if is_digest(reference):
            return found
        rule = await self.rule_async(reg.registry_id, name)
        if rule is None:
            return found
        return await self._refreshed(reg, rule, name, reference, accepted, found, may_import)

    async def _missing(self, reg, rule, name, reference, accepted, may_import, miss):
        pending = await blocking(self._ref, reg, name, reference)
        if pending is not None and pending.content is not None:  # fetched, import under way
            return _served(pending.digest, pending.media_type, pending.content, accepted)
        _ask(may_import, isinstance(miss, NameUnknown), cached=False, name=name)
        if not may_import:
            raise miss
        fetched = await self._fetch_manifest(rule, name, reference, miss)
        await blocking(self._stage, reg, rule, name, reference, fetched)
        return _served(fetched.digest, fetched.media_type, fetched.content, accepted)

    async def _refreshed(self, reg, rule, name, tag, accepted, found, may_import):
        """The tag's image, checked upstream (with HEAD) if its last check is older than
        the refresh interval; a moved tag is fetched and imported."""
        ref = await blocking(self._ref, reg, name, tag)
        if ref is None or ref.checked_at > time.time() - self.refresh_seconds:
            return found  # not the cache's (pushed here), or checked lately
        _ask(may_import, False, cached=True, name=name)
        if not may_import:
            return found
        try:
            digest = await read_work(lambda: self.upstream(rule).manifest_digest(
                rule.upstream_name(name), tag, ACCEPT))
        except (UpstreamError, CredentialUnusable) as exc:
            return _stale(name, tag, exc, found)
        if digest in (None, found.digest):  # gone upstream, or unchanged: keep serving
            metrics.pullthrough("refresh", "unchanged" if digest else "not_found")
            await blocking(self._checked, reg, name, tag)
            return found
        try:
            fetched = await self._fetch_manifest(rule, name, tag, None)
        except (UpstreamUnavailable, UpstreamThrottled, ManifestUnknown) as exc:
            return _stale(name, tag, exc, found)
        await blocking(self._stage, reg, rule, name, tag, fetched)
        return _served(fetched.digest, fetched.media_type, fetched.content, accepted)

    async def _fetch_manifest(self, rule: Rule, name: str, reference: str,
                              miss: RegistryError | None):
        try:
            fetched = await read_work(lambda: self.upstream(rule).manifest(
                rule.upstream_name(name), reference, ACCEPT))
        except UpstreamError as exc:
            raise _translated(exc, name, reference, miss) from None
        except CredentialUnusable as exc:
            raise _unusable(exc, name) from None
        metrics.pullthrough("manifest", "fetched")
        return fetched

    def _ref(self, reg: Registry, name: str, reference: str):
        with self.root.db.read() as tx:
            return rows.ref(tx, reg.registry_id, name, reference)

    def _checked(self, reg: Registry, name: str, tag: str) -> None:
        with self.root.db.write() as tx:
            rows.checked(tx, reg.registry_id, name, tag, time.time())

    def _stage(self, reg: Registry, rule: Rule, name: str, reference: str, fetched) -> None:
        """Keep the fetched manifest (by its reference and its digest) until the import
        job, queued in the same transaction, makes it an image; the repository is made
        now if need be. The job names the rule's prefix and upstream, which its event
        tells even when the rule is deleted before the import runs."""
        now = time.time()
        with self.root.db.write() as tx:
            self._ensure_repository(tx, reg, name)
            for ref in {reference, fetched.digest}:
                rows.put_ref(tx, reg.registry_id, name, ref, fetched.digest,
                             fetched.media_type, fetched.content, now)
            self.queue.enqueue(IMPORT_JOB, {"registryId": reg.registry_id,
                                            "repository": name, "digest": fetched.digest,
                                            "tag": None if is_digest(reference) else reference,
                                            "ecrRepositoryPrefix": rule.prefix,
                                            "upstreamRegistryUrl": rule.upstream_url},
                               max_attempts=IMPORT_ATTEMPTS, tx=tx)

    def _ensure_repository(self, tx, reg: Registry, name: str) -> None:
        if repository_rows.find(tx, reg.registry_id, name) is None:
            template = for_purpose(tx, reg.registry_id, name, PULL_THROUGH_CACHE)
            create_from(tx, reg.registry_id, name, template, reg.encryption)

    # -- blobs --------------------------------------------------------------------------
    async def blob(self, reg: Registry, name: str, reference: str,
                   may_import: bool | None = None, client: bool = True) -> StoredBlob | Fetch:
        """The stored blob, or (a miss in a cached repository) a fetch storing it while
        the caller streams its ``chunks`` (``client``; else it waits for the store)."""
        try:
            return await reg.blobs.find_named_async(name, reference)
        except (NameUnknown, BlobUnknown) as miss:
            rule = await blocking(self.rule, reg.registry_id, name, True)
            if rule is None:
                raise
            _ask(may_import, isinstance(miss, NameUnknown), cached=False, name=name)
            if not may_import:
                raise
            return await self._fetched(reg, rule, name, Digest.parse(reference), miss, client)

    async def _fetched(self, reg, rule, name, digest, miss, client) -> StoredBlob | Fetch:
        """One fetch per blob: this process's running one is joined; one claimed on another
        node (or process) is waited for; else this request fetches it."""
        for _ in range(3):
            running = self.fetches.running(reg, name, digest)
            if running is None:
                claim = Claim(reg, name, digest)
                if not await blocking(claim.take):
                    found = await stored_by_holder(reg, name, digest, claim)
                    if found is not None:
                        return found
                    continue  # the holder died: take its claim over
                running = await self._fetch_blob(reg, rule, name, digest, miss, client, claim)
                if client:
                    return running
            await running.done
            return await reg.blobs.find_async(name, digest)
        raise UpstreamUnavailable(f"fetching {digest} for {name!r} keeps failing elsewhere")

    async def _fetch_blob(self, reg, rule, name, digest, miss, client, claim) -> Fetch:
        if isinstance(miss, NameUnknown):
            await blocking(self._made, reg, name)
        try:
            fetch = await self.fetches.start(reg, name, digest, lambda: self.upstream(rule),
                                             rule.upstream_name(name), client, claim)
        except UpstreamError as exc:
            raise _translated(exc, name, str(digest), miss) from None
        except CredentialUnusable as exc:
            raise _unusable(exc, name) from None
        metrics.pullthrough("blob", "fetched")
        return fetch

    def _made(self, reg: Registry, name: str) -> None:
        with self.root.db.write() as tx:
            self._ensure_repository(tx, reg, name)


def upstream_credentials(url: str, secret: dict | None):
    """What a rule's secret gives the upstream client: a registry login (username,
    accessToken), or -- holding an access key (accessKeyId, secretAccessKey) -- a login to an
    ECR-speaking upstream (ECR, another Berth) renewed from its ECR API as it expires."""
    if secret is None:
        return None
    if "accessKeyId" not in secret:
        return secret["username"], secret["accessToken"]
    parts = split_url(url)
    found = _ECR_HOST.fullmatch(parts[1].partition(":")[0]) if parts else None
    endpoint = None if found else f"{parts[0]}://{parts[1]}"  # ECR's API is elsewhere
    region = secret.get("region") or (found.group(1) if found else DEFAULT_REGION)
    login = EcrLogin(endpoint, region, (secret["accessKeyId"], secret["secretAccessKey"]))

    def credentials(renew: bool = False) -> tuple[str, str]:
        return login.credentials(renew)
    return credentials


def _ask(may_import: bool | None, create: bool, cached: bool, name: str) -> None:
    if may_import is None:
        raise ImportNeedsPermission(f"serving {name!r} needs an import from its upstream",
                                    create=create, cached=cached)


def _served(digest: str, media_type: str, content: bytes,
            accepted: list[str] | None) -> StoredManifest:
    if not accepts(media_type, accepted):
        raise ManifestNotAcceptable(f"manifest {digest} is {media_type}, which the client "
                                    "does not accept", {"mediaType": media_type})
    return StoredManifest(digest, media_type, len(content), content)


def _stale(name: str, tag: str, exc: Exception, found: StoredManifest) -> StoredManifest:
    log.warning("pull-through cache: the upstream of %s:%s failed (%s); serving the cached "
                "image", name, tag, exc)
    metrics.pullthrough("refresh", "stale")
    return found


def _unusable(exc: CredentialUnusable, name: str) -> UpstreamUnavailable:
    log.warning("pull-through cache: the rule covering %s has unusable credentials: %s",
                name, exc.message)
    metrics.pullthrough("fetch", "credentials")
    return UpstreamUnavailable(f"the pull-through cache rule of {name!r} cannot use its "
                               "credentials")


def _translated(exc: UpstreamError, name: str, reference: str,
                miss: RegistryError | None) -> RegistryError:
    metrics.pullthrough("fetch", exc.code)
    if exc.code in ("not_found", "denied"):
        log.info("pull-through cache: %s@%s not served by the upstream (%s)", name,
                 reference, exc.code)
        if miss is not None:
            return miss
        return ManifestUnknown(f"manifest {reference!r} is unknown upstream",
                               {"reference": reference})
    log.warning("pull-through cache: the upstream of %s failed: %s", name, exc)
    if exc.code == "rate_limited":
        return UpstreamThrottled(f"the upstream registry of {name!r} limits its requests; "
                                 "retry later")
    return UpstreamUnavailable(f"the upstream registry of {name!r} is unavailable: {exc}")
