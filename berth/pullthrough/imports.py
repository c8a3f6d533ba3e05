"""The import of a manifest a pull-through cache fetched: the blobs (and, for an index, the
platforms' manifests) it lists that the repository lacks are fetched from the upstream and
stored, then the manifest is put as an image, under its tag; its pending copy goes. A job,
so a SIGKILL midway leaves it to run again (what was stored stays: blobs and manifests are
content-addressed). How it ended is an event in the transaction that records it (synced.py):
SUCCESS with the pending copy's going, FAILED when the job's last attempt fails or at once
when the rule or the repository was deleted meanwhile (nothing is left to import into)."""
from __future__ import annotations

import asyncio
import logging
import time

from ..jobs.runner import JobContext, JobRunner
from ..registry.errors import NameUnknown, TagImmutable
from ..registry.images.manifests import LayersMissing
from ..registry.references import Digest
from ..registry.registry import Registry
from ..storage.metadata import pullthrough as rows
from .cache import ACCEPT, IMPORT_ATTEMPTS, IMPORT_JOB, PullThrough
from .claims import Claim, stored, wait_for_holder
from .fetch import Fetch
from .rules import Rule
from .synced import FAILED, REPOSITORY_GONE, RULE_GONE, SUCCESS, Dropped, Origin, synced

log = logging.getLogger("berth.pullthrough")

MAX_DEPTH = 2  # an index's children are images: no deeper nesting is followed
FETCH_WAIT = 3600.0  # for a client's fetch of the same blob to end
PRUNE_JOB = "pullthrough-prune"
LAPSED_RETENTION = 3600.0            # a lapsed fetch claim, kept this long
PENDING_RETENTION = 7 * 24 * 3600.0  # a fetched manifest whose import never finished


class Importer:
    def __init__(self, cache: PullThrough):
        self.cache = cache

    def run(self, payload: dict, job: JobContext | None = None) -> None:
        """Import the pending manifest; its event tells how it ended: SUCCESS, FAILED when
        ``job``'s last attempt fails (no job: this is the only attempt), or FAILED at once
        when its rule or repository was deleted meanwhile (the import is dropped)."""
        reg = self.cache.root.scoped(payload["registryId"])
        name, digest, tag = payload["repository"], payload["digest"], payload.get("tag")
        with reg.db.read() as tx:
            pending = rows.ref(tx, reg.registry_id, name, digest)
        if pending is None or pending.content is None:
            return  # imported already
        rule = self.cache.rule(reg.registry_id, name, fresh=True)
        try:
            dropped = self._import(reg, rule, name, digest, tag, pending)
        except Exception as exc:
            if _last_attempt(job):
                with reg.db.write() as tx:
                    synced(tx, reg.registry_id, rule, name, digest, tag, FAILED, exc)
            raise
        if dropped is not None:
            log.info("pull-through import of %s@%s dropped: %s", name, digest, dropped)
        origin = rule or _origin(payload)
        with reg.db.write() as tx:
            if origin is not None:  # None: queued by a version that did not name it
                synced(tx, reg.registry_id, origin, name, digest, tag,
                       FAILED if dropped else SUCCESS, dropped)
            rows.imported(tx, reg.registry_id, name, digest)

    def _import(self, reg: Registry, rule: Rule | None, name: str, digest: str,
                tag: str | None, pending) -> Dropped | None:
        """Store the image and tag it; why it was dropped instead, if it was."""
        if rule is None:
            return Dropped(RULE_GONE, "No pull through cache rule covers the repository")
        try:
            self._put(reg, rule, name, digest, pending.media_type, pending.content)
            if tag:
                self._tag(reg, name, tag, digest, pending.media_type, pending.content)
        except NameUnknown:
            return Dropped(REPOSITORY_GONE, "The repository was deleted")
        return None

    def _put(self, reg: Registry, rule: Rule, name: str, digest: str, media_type: str,
             content: bytes, depth: int = 0) -> None:
        """Store the manifest by digest, fetching what it lists that is missing first."""
        for _ in range(2):
            try:
                reg.manifests.put(name, None, content, media_type, digest, create=False)
                return
            except LayersMissing as missing:
                for wanted in missing.digests:
                    if missing.children and depth < MAX_DEPTH:
                        self._child(reg, rule, name, wanted, depth + 1)
                    elif not missing.children:
                        self._blob(reg, rule, name, wanted)
        reg.manifests.put(name, None, content, media_type, digest, create=False)

    def _child(self, reg: Registry, rule: Rule, name: str, digest: str, depth: int) -> None:
        with reg.db.read() as tx:
            pending = rows.ref(tx, reg.registry_id, name, digest)
        if pending is not None and pending.content is not None:
            media_type, content = pending.media_type, pending.content
        else:
            fetched = self.cache.upstream(rule).manifest(rule.upstream_name(name), digest,
                                                         ACCEPT)
            media_type, content = fetched.media_type, fetched.content
        self._put(reg, rule, name, digest, media_type, content, depth)

    def _blob(self, reg: Registry, rule: Rule, name: str, digest: str) -> None:
        """Fetch and store it, unless a client's fetch (here or on another node) does."""
        wanted = Digest.parse(digest)
        running = self.cache.fetches.running(reg, name, wanted)
        if running is not None:
            running.finished.wait(FETCH_WAIT)
        for _ in range(3):
            claim = Claim(reg, name, wanted)
            if stored(reg, name, wanted) is not None:
                return
            if claim.take():
                try:
                    blob = self.cache.upstream(rule).blob(rule.upstream_name(name), digest,
                                                          verify=False)  # the store does
                except BaseException:
                    claim.release()
                    raise

                async def store() -> None:
                    await Fetch(reg, name, wanted, blob, client=False, claim=claim).store()
                asyncio.run(store())
                return
            if wait_for_holder(reg, name, wanted, claim) is not None:
                return

    @staticmethod
    def _tag(reg: Registry, name: str, tag: str, digest: str, media_type: str,
             content: bytes) -> None:
        try:
            reg.manifests.put(name, tag, content, media_type, digest, create=False)
        except TagImmutable:  # a template made the repository immutable: the first stays
            log.info("pull-through import: %s:%s is immutable; %s stored untagged", name,
                     tag, digest)


def _origin(payload: dict) -> Origin | None:
    if "ecrRepositoryPrefix" not in payload:
        return None
    return Origin(payload["ecrRepositoryPrefix"], payload["upstreamRegistryUrl"])


def _last_attempt(job: JobContext | None) -> bool:
    # A job cancelled (its node stopping, its lease lost) is not spent: it runs again.
    return job is None or (job.attempt >= IMPORT_ATTEMPTS and not job.cancelled.is_set())


def register(runner: JobRunner, cache: PullThrough) -> None:
    importer = Importer(cache)

    def run(job: JobContext) -> None:
        importer.run(job.payload, job)

    def prune(job: JobContext) -> None:
        now = time.time()
        with cache.root.db.write() as tx:
            rows.prune(tx, now - LAPSED_RETENTION, now - PENDING_RETENTION)

    runner.register(IMPORT_JOB, run)
    runner.every(24 * 3600.0, PRUNE_JOB, prune)
