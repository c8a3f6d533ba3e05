"""Garbage collection: storage that nothing references is freed after a grace period, online,
without stopping pushes or pulls (``collector``); deletions reach it as domain events
(``subscriber``); the sweep runs as a job on one node at a time (``tasks``).

How a push and a collector never lose a referenced blob between them:

- A blob link (a repository's blob) is unreferenced while no manifest of its repository
  lists it; an object (a digest's bytes under one key ref) while no link of a repository with
  that key ref names it. Each records since when (``unreferenced_since``); the collector
  deletes only what stayed so longer than the grace period.
- A manifest put first updates the links it lists (``hold_links``), then reads them. The
  collector deletes a link with a guarded DELETE. On PostgreSQL one of the two waits for the
  other's row lock: the put then finds the link gone (and fails cleanly: blob unknown), or
  the DELETE's re-check finds it listed. SQLite runs one writer at a time.
- A push pins the object row (restarting its grace) in a transaction of its own before it
  relies on the bytes, then writes them if they are missing, then links them in a
  transaction that holds the row only if it is still within its grace (``hold``). The
  collector claims an object row (FOR UPDATE SKIP LOCKED), deletes the bytes, then the row,
  in one transaction: a pin waits for it and the push writes the bytes again; a collector
  killed after deleting bytes leaves the row, which a pin still finds, and the push checks
  the bytes after pinning. A link therefore always names bytes that exist.
- Objects in the storage that no row knows (a crash, an older version) are adopted as rows
  unreferenced since their last write, and collected the same way.
"""
from .collector import GarbageCollector, Report

__all__ = ["GarbageCollector", "Report"]
