"""Garbage collection: storage that nothing references is freed after a grace period, online,
without stopping pushes or pulls (``collector``); deletions reach it as domain events
(``subscriber``); the sweep runs as a job on one node at a time (``tasks``), periodically and
when an operator starts one (``runs``).

How a push and a collector never lose a referenced blob between them:

- A blob link (a repository's blob) is unreferenced while no manifest of its repository
  lists it; an object (a digest's bytes under one key ref) while no link of a repository with
  that key ref names it. Each records since when (``unreferenced_since``); the collector
  deletes only what stayed so longer than the grace period.
- A manifest put reads the links it lists with shared row locks (``hold_links``); the
  collector locks a link (FOR UPDATE SKIP LOCKED, passing over held ones), then checks in a
  statement of its own -- whose snapshot sees everything committed while it waited -- that
  no manifest lists it, then deletes it. So either the put finds the link gone (and fails
  cleanly: blob unknown), or the collector leaves it. Deleting an image starts its unlisted
  links' grace period right after its transaction (in one of its own: see the lock order
  below). SQLite runs one writer at a time.
- A push pins the object row (restarting its grace) in a transaction of its own before it
  relies on the bytes, then writes them if they are missing, then links them in a
  transaction that inserts the link, then holds the object row only if its pin is less than
  half the grace period old (``hold``; the other half absorbs clock skew). The collector
  claims an object row (FOR UPDATE SKIP LOCKED), checks in a later statement that no link
  names it, deletes the bytes, then the row, in one transaction: a pin waits for it and the
  push writes the bytes again; a collector killed after deleting bytes leaves the row, which
  a pin still finds, and the push checks the bytes after pinning. A link therefore always
  names bytes that exist.
- Row locks are taken links before manifests and tags, and links before objects, each kind
  in key order, by manifest puts (links, then the manifest, then the tag), deletions
  (manifest and tags; links in a later transaction), pushes (one link, then one object),
  sweeps (a transaction of links, then one of objects) and the subscriber (objects only),
  so none of them waits in a cycle.
- Deleting a blob (or a manifest) locks its row before checking, in a later statement,
  that no manifest (or index) lists it; a manifest (index) put holds the rows it lists.
- One sweep runs at a time across all nodes (``Database.try_lock``).
- Objects in the storage that no row knows (a crash, an older version) are adopted as rows
  unreferenced since their last write, and collected the same way.
- Uploads in the storage that no upload row knows (a crash between starting one and
  recording it; a monolithic upload or a small blob's temporary cut off) are removed by the
  same walk once untouched for the grace period (and by the upload expiry after the upload
  TTL). Their bytes are no object yet: a commit moves them under the blob's key, pinned.
"""
from .collector import GarbageCollector, Report, collector_for
from .runs import Run, Runs, runs_for

__all__ = ["GarbageCollector", "Report", "Run", "Runs", "collector_for", "runs_for"]
