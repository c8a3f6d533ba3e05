"""The sweep: links, then (when asked) objects the storage holds that no row knows and
uploads no upload row knows, then objects. Each page is read, then acted on in short write
transactions whose statements re-check what the page said, so a push meanwhile is never
undone (see the package docstring). One sweep runs at a time across all nodes (a named
database lock)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Iterator

from ..observability import metrics
from ..storage.blobs import BlobDriver, StoredObject
from ..storage.blobs.keyring import join_key, split_key
from ..storage.metadata import garbage as rows
from ..storage.metadata import uploads as upload_rows
from ..storage.metadata.database import Database

if TYPE_CHECKING:
    from ..registry.registry import Registry

log = logging.getLogger("berth.gc")

PAGE = 500          # rows read per page
DELETE_BATCH = 100  # objects deleted per transaction (SQLite holds its writer lock meanwhile)
LOCK = "gc-sweep"


class Cancelled(Exception):
    """The sweep was asked to stop; what it did so far stands."""


@dataclass
class Report:
    dry_run: bool
    links_unlinked: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    orphans_found: int = 0
    orphan_bytes: int = 0
    orphan_uploads: int = 0  # upload sessions of the storage no upload row knows, removed
    seconds: float = 0.0
    skipped: bool = False  # another sweep was running
    grace_seconds: float = 0.0  # what was older than this was freed

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Clock:
    """The sweep's idea of now: ``now`` (which tests move) plus the time the sweep took."""
    now: float
    started: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return self.now + time.monotonic() - self.started


@dataclass
class GarbageCollector:
    db: Database
    driver: BlobDriver
    grace_seconds: float
    page: int = PAGE
    delete_batch: int = DELETE_BATCH
    cancelled: threading.Event = field(default_factory=threading.Event)

    def sweep(self, dry_run: bool = False, orphans: bool = True, now: float | None = None,
              cancelled: threading.Event | None = None) -> Report:
        """A pass over what waits to be freed; with ``orphans`` (daily, and on demand) a full
        one: every link and object, their waits started or ended where no change did it, and
        the storage walked for objects no row knows and for uploads no upload row knows.
        ``dry_run`` counts what a sweep now would free. Skipped if another sweep runs.

        Without ``orphans`` only rows whose wait has started are read: every change that
        leaves a link or an object unreferenced starts its wait (an image's deletion, a blob
        deletion, a deleted link, a push before it links); the full pass catches the rest."""
        clock = _Clock(time.time() if now is None else now)
        stop = cancelled or self.cancelled
        report = Report(dry_run, grace_seconds=self.grace_seconds)
        cutoff = clock.now - self.grace_seconds
        with self.db.try_lock(LOCK) as held:
            if not held:
                report.skipped = True
            elif dry_run:
                self._count(report, cutoff, orphans, stop)
            else:
                self._links(report, clock, cutoff, stop, waiting=not orphans)
                if orphans:
                    self._orphans(report, cutoff, stop)
                    self._orphan_uploads(report, cutoff, stop)
                self._objects(report, clock, cutoff, stop, waiting=not orphans)
                metrics.gc_freed("unreferenced", report.objects_deleted, report.bytes_freed)
                metrics.gc_freed("orphan", report.orphans_found, report.orphan_bytes)
        report.seconds = round(time.monotonic() - clock.started, 3)
        return report

    # -- links -------------------------------------------------------------------------
    def _links(self, report: Report, clock: _Clock, cutoff: float, stop,
               waiting: bool) -> None:
        after = None
        while page := self._read(rows.links_page, after, waiting):
            _check(stop)
            with self.db.write() as tx:
                deleted = [link for link in page if _settle_link(tx, link, clock(), cutoff)]
            if deleted:  # objects in a transaction of their own: links, then objects
                self._release(deleted)
            report.links_unlinked += len(deleted)
            after = (page[-1].repository_id, page[-1].digest)

    def _release(self, links: list) -> None:
        """The objects of deleted links wait from when the links did (or later, if a push
        touched them since)."""
        with self.db.read() as tx:
            refs = {repo: rows.key_ref_of(tx, repo) for repo in {l.repository_id for l in links}}
        targets = sorted((refs[l.repository_id], l.digest, l.unreferenced_since) for l in links
                         if refs[l.repository_id] is not None)
        with self.db.write() as tx:
            for key_ref, digest, since in targets:
                rows.release_object(tx, key_ref, digest, since)

    # -- objects no row knows ------------------------------------------------------------
    def _orphans(self, report: Report, cutoff: float, stop) -> None:
        for batch in _batches(self._old_objects(cutoff), self.page):
            _check(stop)
            unknown = self._unknown(batch)
            if not unknown:
                continue
            with self.db.write() as tx:
                for key_ref, digest, stored in unknown:
                    if rows.adopt(tx, key_ref, digest, stored.size, stored.modified):
                        report.orphans_found += 1
                        report.orphan_bytes += stored.size

    def _unknown(self, batch: list) -> list:
        with self.db.read() as tx:
            known = rows.known(tx, [(ref, digest) for ref, digest, _ in batch])
        return [item for item in batch if item[:2] not in known]

    def _old_objects(self, cutoff: float) -> Iterator[tuple[str, str, StoredObject]]:
        for stored in self.driver.walk():
            parsed = parse_key(stored.key)
            if parsed is not None and stored.modified < cutoff:
                yield (*parsed, stored)

    # -- uploads no row knows ------------------------------------------------------------
    def _orphan_uploads(self, report: Report, cutoff: float, stop) -> None:
        """Remove the storage's uploads untouched since the cutoff that no upload row knows.
        A crash leaves them: a session started in the storage but not yet recorded, a
        monolithic upload (it never has a row) or a small blob's temporary cut off midway.
        An upload in progress writes (and is dated) as its bytes arrive; one with a row is
        the upload expiry's (after the upload TTL), which also removes these, later."""
        for upload_id in self._unknown_uploads(cutoff, stop):
            try:
                self.driver.upload_abort(upload_id, {})  # {}: whatever its state was
            except Exception as exc:  # the storage refused: the next walk finds it again
                log.warning("could not remove upload %s, which no row knows: %s",
                            upload_id, exc)
                continue
            report.orphan_uploads += 1

    def _unknown_uploads(self, cutoff: float, stop) -> Iterator[str]:
        stale = self.driver.upload_ids_older_than(cutoff)
        for batch in _batches(iter(stale), self.page):
            _check(stop)
            with self.db.read() as tx:
                unknown = [u for u in batch if upload_rows.find(tx, u) is None]
            yield from unknown

    # -- objects -------------------------------------------------------------------------
    def _objects(self, report: Report, clock: _Clock, cutoff: float, stop,
                 waiting: bool) -> None:
        after = None
        while page := self._read(rows.objects_page, after, waiting):
            _check(stop)
            garbage = []
            with self.db.write() as tx:
                for obj in page:
                    if obj.linked and obj.unreferenced_since is not None:
                        rows.clear_object(tx, obj.key_ref, obj.digest)
                    elif not obj.linked and obj.unreferenced_since is None:
                        rows.mark_object(tx, obj.key_ref, obj.digest, clock())
                    elif not obj.linked and obj.unreferenced_since < cutoff:
                        garbage.append((obj.key_ref, obj.digest))
            for batch in _batches(iter(garbage), self.delete_batch):
                _check(stop)
                self._delete(batch, cutoff, report)
            after = (page[-1].key_ref, page[-1].digest)

    def _delete(self, batch: list[tuple[str, str]], cutoff: float, report: Report) -> None:
        """Claim each object (skipped if a push holds or revived it), delete the claimed
        bytes (one storage request for the batch where it can), then their rows, all before
        the commit: a push waiting on a row writes the bytes anew."""
        with self.db.write() as tx:
            claimed = {}
            for key_ref, digest in batch:
                size = rows.claim_object(tx, key_ref, digest, cutoff)
                if size is not None:
                    claimed[object_key(key_ref, digest)] = (key_ref, digest, size)
            failed = set(self.driver.delete_many(list(claimed)))
            if failed:  # the storage refused: keep those rows, try again next time
                log.warning("could not delete %d objects, e.g. %s", len(failed), min(failed))
            freed = [claimed[key] for key in claimed if key not in failed]
            for key_ref, digest, _ in freed:
                rows.delete_object(tx, key_ref, digest)
        report.objects_deleted += len(freed)
        report.bytes_freed += sum(size for _, _, size in freed)

    # -- dry run -------------------------------------------------------------------------
    def _count(self, report: Report, cutoff: float, orphans: bool, stop) -> None:
        with self.db.read() as tx:
            report.links_unlinked = rows.count_unlinkable(tx, cutoff)
            report.objects_deleted, report.bytes_freed = rows.count_freeable(tx, cutoff)
        if not orphans:
            return
        for batch in _batches(self._old_objects(cutoff), self.page):
            _check(stop)
            for _, _, stored in self._unknown(batch):
                report.orphans_found += 1  # adopted, then deleted like the others
                report.orphan_bytes += stored.size
                report.objects_deleted += 1
                report.bytes_freed += stored.size
        report.orphan_uploads = sum(1 for _ in self._unknown_uploads(cutoff, stop))

    def _read(self, query, after, waiting: bool):
        with self.db.read() as tx:
            return query(tx, after, self.page, waiting)


def collector_for(registry: "Registry") -> GarbageCollector:
    """The collector of the registry's storage (every account's: the storage is shared), as
    the jobs and the admin operations use it."""
    return GarbageCollector(registry.db, registry.driver, registry.grace_seconds)


def _settle_link(tx, link, now: float, cutoff: float) -> bool:
    """Mark, clear or delete one link as the page found it (each statement re-checks);
    True if it was deleted."""
    if link.listed:
        if link.unreferenced_since is not None:
            rows.clear_link(tx, link.repository_id, link.digest)
        return False
    if link.unreferenced_since is None:
        rows.mark_link(tx, link.repository_id, link.digest, now)
        return False
    return link.unreferenced_since < cutoff and rows.delete_link(
        tx, link.repository_id, link.digest, cutoff)


def object_key(key_ref: str, digest: str) -> str:
    algorithm, _, hex_ = digest.partition(":")
    return join_key(key_ref, f"{algorithm}/{hex_[:2]}/{hex_}")


def parse_key(key: str) -> tuple[str, str] | None:
    """(key ref, digest) of a blob key the registry writes; None for anything else."""
    key_ref, rest = split_key(key)
    parts = rest.split("/")
    if len(parts) != 3 or not parts[2].startswith(parts[1]) or len(parts[1]) != 2:
        return None
    algorithm, _, hex_ = parts
    if algorithm not in ("sha256", "sha512") or not all(c in "0123456789abcdef" for c in hex_):
        return None
    return key_ref, f"{algorithm}:{hex_}"


def _batches(items: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(items, size)):
        yield batch


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise Cancelled("garbage collection was stopped")
