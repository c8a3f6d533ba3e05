"""The OCI grammar for repository names, tags and digests."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import DigestInvalid, NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
NAME_MAX = 256
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")

# Algorithms we verify, with the length of their hex encoding.
ALGORITHMS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")


def validate_name(name: str) -> str:
    if len(name) > NAME_MAX or not NAME_RE.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name!r}", {"name": name})
    return name


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalid(f"invalid tag {tag!r}", {"tag": tag})
    return tag


def is_digest(reference: str) -> bool:
    return ":" in reference


def well_formed(reference: str) -> bool:
    """Whether a manifest reference is a tag or a digest (of an algorithm Berth verifies)."""
    if not is_digest(reference):
        return TAG_RE.fullmatch(reference) is not None
    try:
        Digest.parse(reference)
    except DigestInvalid:
        return False
    return True


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def key(self) -> str:
        """Where the blob lives in a driver: spread over 256 directories."""
        return f"{self.algorithm}/{self.hex[:2]}/{self.hex}"

    def hasher(self):
        return hashlib.new(self.algorithm)

    @classmethod
    def parse(cls, value: str) -> "Digest":
        match = DIGEST_RE.fullmatch(value or "")
        if not match:
            raise DigestInvalid(f"invalid digest {value!r}", {"digest": value})
        algorithm, encoded = match.groups()
        if algorithm not in ALGORITHMS:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}", {"digest": value})
        if len(encoded) != ALGORITHMS[algorithm] or not _HEX.fullmatch(encoded):
            raise DigestInvalid(f"invalid {algorithm} digest {value!r}", {"digest": value})
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())
