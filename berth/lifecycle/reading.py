"""Streaming a repository's images into an evaluation, page by page, each page in a read
transaction of its own: a repository of 100,000 images holds neither a transaction nor the
memory of all of them."""
from __future__ import annotations

from typing import Iterator

from ..storage.metadata import lifecycle as rows
from ..storage.metadata import tags
from ..storage.metadata.database import Database
from .evaluation import Evaluation, Image, Verdict
from .policy import ARCHIVE, STANDARD, Policy

PAGE = 1000
# The image status each storage class's rules see (ACTIVATING images are in neither).
STATUS = {STANDARD: "ACTIVE", ARCHIVE: "ARCHIVED"}
CLASS_NAME = {STANDARD: "STANDARD", ARCHIVE: "ARCHIVE"}


def images(db: Database, repo_id: int, storage_class: str,
           page: int = PAGE) -> Iterator[Image]:
    """The repository's top-level images of the class, newest first."""
    after = None
    while True:
        with db.read() as tx:
            found = rows.image_page(tx, repo_id, STATUS[storage_class], after, page)
            names = tags.names_for(tx, repo_id, [r.digest for r in found]) if found else {}
        for r in found:
            yield Image(r.digest, tuple(sorted(names.get(r.digest, ()))), r.pushed_at,
                        storage_class, r.last_pulled_at, r.last_archived_at,
                        r.last_activated_at)
        if len(found) < page:
            return
        after = (found[-1].age, found[-1].digest)


def verdicts(db: Database, repo_id: int, policy: Policy, now: float,
             page: int = PAGE) -> Iterator[Verdict]:
    """What the policy does at ``now``: each storage class's images against its rules."""
    for storage_class in (STANDARD, ARCHIVE):
        if policy.for_class(storage_class):
            evaluation = Evaluation(policy, storage_class, now)
            yield from evaluation.judge_all(images(db, repo_id, storage_class, page))
