"""AWS resource tags on repositories (key/value metadata, not image tags), with ECR's limits:
at most 50 per repository, keys of 1..128 and values of 0..256 characters from letters,
digits, spaces and ``_ . : / = + - @``, and no key starting with ``aws:`` (any case), which
AWS reserves."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from ...storage.metadata import resource_tags as tag_rows
from ...storage.metadata.database import Database, Tx
from ...storage.metadata.registries import IAM_GENERATION, bump
from ..errors import RegistryError
from .service import require_id

MAX_TAGS = 50
KEY_MAX = 128
VALUE_MAX = 256
_PUNCTUATION = frozenset("_.:/=+-@")


class ResourceTagInvalid(RegistryError):
    code = "TAG_PARAMETER_INVALID"


class TooManyResourceTags(RegistryError):
    code = "TOO_MANY_TAGS"


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # AWS counts UTF-16 code units


def _allowed(text: str) -> bool:
    # AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]*
    return all(c in _PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def validate_key(key: str) -> str:
    if not 1 <= _length(key) <= KEY_MAX:
        raise ResourceTagInvalid(f"Tag key '{key}' must be 1 to {KEY_MAX} characters long.")
    if key.lower().startswith("aws:"):
        raise ResourceTagInvalid(f"Tag key '{key}' is invalid: the 'aws:' prefix is reserved "
                                 "for AWS use.")
    if not _allowed(key):
        raise ResourceTagInvalid(f"Tag key '{key}' contains characters that are not allowed.")
    return key


def validate_tags(tags: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The tags as a dict (a repeated key: the last value wins); ResourceTagInvalid for a bad
    key or value, TooManyResourceTags beyond the limit."""
    result: dict[str, str] = {}
    for key, value in tags:
        validate_key(key)
        if _length(value) > VALUE_MAX or not _allowed(value):
            raise ResourceTagInvalid(f"Tag value '{value}' of key '{key}' must be at most "
                                     f"{VALUE_MAX} allowed characters.")
        result[key] = value
    check_count(len(result))
    return result


def check_count(count: int) -> None:
    if count > MAX_TAGS:
        raise TooManyResourceTags(f"A resource can have at most {MAX_TAGS} tags; this "
                                  f"request would give it {count}.")


def apply(tx: Tx, repo_id: int, tags: dict[str, str]) -> None:
    """Add or overwrite ``tags`` (validated) on the repository, within its limit."""
    current = tag_rows.all_tags(tx, repo_id)
    check_count(len(current.keys() | tags.keys()))
    tag_rows.put(tx, repo_id, tags)
    bump(tx, IAM_GENERATION)  # conditions on aws:ResourceTag read tags


class RepositoryTagService:
    def __init__(self, db: Database, registry_id: int):
        self.db = db
        self.registry_id = registry_id

    def list(self, repository: str) -> dict[str, str]:
        with self.db.read() as tx:
            return tag_rows.all_tags(tx, require_id(tx, self.registry_id, repository))

    def tag(self, repository: str, tags: Iterable[tuple[str, str]]) -> None:
        wanted = validate_tags(tags)
        with self.db.write() as tx:
            apply(tx, require_id(tx, self.registry_id, repository), wanted)

    def untag(self, repository: str, keys: Iterable[str]) -> None:
        keys = sorted({validate_key(key) for key in keys})
        with self.db.write() as tx:
            tag_rows.remove(tx, require_id(tx, self.registry_id, repository), keys)
            bump(tx, IAM_GENERATION)
