"""What a policy does to a repository's images, as ECR's user guide states it:

- all rules see every image of their storage class; each image is acted on by the first rule
  (in priority order) whose tag selection it matches, or by none: "an image that matches the
  tagging requirements of a rule cannot be expired or archived by a rule with a lower
  priority";
- a lower-priority rule still counts the images higher ones matched ("can still identify
  them as if they haven't been expired or archived");
- images are ordered newest first by push time (by restore time once restored).

Images stream in newest first, so each image's verdict is known when it arrives: a rule's
count of newer matches is all ``imageCountMoreThan`` needs. Memory is one counter per rule,
whatever the repository's size. The preview and the real run both call ``Evaluation``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from .policy import (
    ARCHIVE,
    COUNT_MORE_THAN,
    DAY,
    SINCE_PULLED,
    SINCE_PUSHED,
    SINCE_TRANSITIONED,
    STANDARD,
    TRANSITION,
    Policy,
    Rule,
)


@dataclass(frozen=True)
class Image:
    """What the rules look at of one image (a top-level manifest of the repository)."""
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    storage_class: str = STANDARD         # ARCHIVE once archived
    last_pulled_at: float | None = None
    last_archived_at: float | None = None
    last_activated_at: float | None = None  # restored from the archive

    @property
    def age_time(self) -> float:
        """When its age starts: its restore, if it was restored, else its push."""
        return self.last_activated_at or self.pushed_at

    @property
    def pull_time(self) -> float:
        """Its last pull since it was restored; else its restore, else its push."""
        if self.last_pulled_at is not None and self.last_pulled_at >= (self.last_activated_at
                                                                      or 0.0):
            return self.last_pulled_at
        return self.age_time


@dataclass(frozen=True)
class Verdict:
    image: Image
    rule: Rule

    @property
    def action(self) -> str:
        return self.rule.action

    @property
    def target(self) -> str | None:
        return ARCHIVE if self.rule.action == TRANSITION else None


class Evaluation:
    """One pass over one storage class's images, fed newest first (``age_time``
    descending; ties in any fixed order)."""

    def __init__(self, policy: Policy, storage_class: str, now: float):
        self.rules = policy.for_class(storage_class)
        self.now = now
        self.seen = [0] * len(self.rules)

    def judge(self, image: Image) -> Verdict | None:
        verdict = None
        claimed = False
        for i, rule in enumerate(self.rules):
            if not rule.matches(image.tags):
                continue
            self.seen[i] += 1
            if not claimed:
                claimed = True
                if self._selects(rule, image, self.seen[i]):
                    verdict = Verdict(image, rule)
        return verdict

    def judge_all(self, images: Iterable[Image]) -> Iterator[Verdict]:
        for image in images:
            verdict = self.judge(image)
            if verdict is not None:
                yield verdict

    def _selects(self, rule: Rule, image: Image, rank: int) -> bool:
        """Whether the rule's count condition holds for this image, the rank-th newest it
        matched."""
        if rule.count_type == COUNT_MORE_THAN:
            return rank > rule.count
        cutoff = self.now - rule.count * DAY
        if rule.count_type == SINCE_PUSHED:
            return image.age_time < cutoff
        if rule.count_type == SINCE_PULLED:
            return image.pull_time < cutoff
        if rule.count_type == SINCE_TRANSITIONED:
            return image.last_archived_at is not None and image.last_archived_at < cutoff
        return False
