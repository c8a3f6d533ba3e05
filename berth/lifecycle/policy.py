"""A lifecycle policy's text: parsed, checked as ECR checks it, and turned into rules.

The shape is checked against a JSON schema; a mistake is worded as ECR words it (ECR's
validator is fge's json-schema-validator: "object has missing required properties ...").
The rules between fields and rules (one untagged rule per storage class, ``any`` last, ...)
are checked after, with ECR's messages where users have reported them."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import PolicyInvalid

TAGGED, UNTAGGED, ANY = "tagged", "untagged", "any"
STANDARD, ARCHIVE = "standard", "archive"
COUNT_MORE_THAN = "imageCountMoreThan"
SINCE_PUSHED, SINCE_PULLED = "sinceImagePushed", "sinceImagePulled"
SINCE_TRANSITIONED = "sinceImageTransitioned"
EXPIRE, TRANSITION = "expire", "transition"
MAX_RULES = 50
MAX_WILDCARDS = 4
MIN_ARCHIVE_DAYS = 90  # "cannot ... delete images that have been in archive for less than 90 days"
DAY = 86400.0

_STRINGS = {"type": "array", "items": {"type": "string"}}
_SELECTION = {
    "type": "object", "required": ["tagStatus", "countType", "countNumber"],
    "additionalProperties": False,
    "properties": {
        "tagStatus": {"enum": [ANY, TAGGED, UNTAGGED]},
        "tagPatternList": _STRINGS, "tagPrefixList": _STRINGS,
        "storageClass": {"enum": [STANDARD, ARCHIVE]},
        "countType": {"enum": [COUNT_MORE_THAN, SINCE_PUSHED, SINCE_PULLED, SINCE_TRANSITIONED]},
        "countUnit": {"enum": ["days"]},
        "countNumber": {"type": "integer", "minimum": 1},
    },
}
_ACTION = {
    "type": "object", "required": ["type"], "additionalProperties": False,
    "properties": {"type": {"enum": [EXPIRE, TRANSITION]},
                   "targetStorageClass": {"enum": [ARCHIVE]}},
}
_RULE = {
    "type": "object", "required": ["rulePriority", "selection", "action"],
    "additionalProperties": False,
    "properties": {"rulePriority": {"type": "integer", "minimum": 1},
                   "description": {"type": "string"},
                   "selection": _SELECTION, "action": _ACTION},
}
SCHEMA = {"type": "object", "required": ["rules"],
          "properties": {"rules": {"type": "array", "items": _RULE}}}
# What ECR answers when a count unit is missing, extra or null: its schema has one shape per
# kind of count, and the selection matched none of them.
_NO_SHAPE = "instance failed to match exactly one schema (matched 0 out of 2)"
_SHAPE_KEYS = ("countType", "countUnit", "targetStorageClass")  # what tells the shapes apart


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str
    prefixes: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    storage_class: str
    count_type: str
    count: int
    action: str
    description: str = ""

    def matches(self, tags: tuple[str, ...]) -> bool:
        """Every prefix (or pattern) must match one of the image's tags, at least."""
        if self.tag_status == ANY:
            return True
        if self.tag_status == UNTAGGED:
            return not tags
        if not tags:
            return False
        if self.prefixes:
            return all(any(t.startswith(p) for t in tags) for p in self.prefixes)
        return all(any(p.fullmatch(t) for t in tags) for p in self.patterns)


@dataclass(frozen=True)
class Policy:
    text: str
    rules: tuple[Rule, ...]  # by priority, highest (lowest number) first

    def for_class(self, storage_class: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.storage_class == storage_class)


@functools.cache
def _validator():
    """Loaded with the first policy: most processes never read one, and jsonschema's import
    (with its optional format checkers installed, a grammar built at import) costs seconds."""
    from jsonschema import Draft4Validator

    return Draft4Validator(SCHEMA)


def parse(text: str) -> Policy:
    """The policy, or PolicyInvalid with ECR's wording of the first mistake."""
    try:
        document = json.loads(text)
    except ValueError:
        raise PolicyInvalid("Could not map policyString into LifecyclePolicy.") from None
    if not isinstance(document, dict):
        raise PolicyInvalid("Could not map policyString into LifecyclePolicy.")
    error = next(iter(sorted(_validator().iter_errors(document),
                             key=lambda e: (list(e.absolute_path), e.validator != "required"))),
                 None)
    if error is not None:
        raise PolicyInvalid(_fge_message(error))
    rules = [_rule(raw) for raw in document["rules"]]
    _check_together(rules)
    return Policy(text, tuple(sorted(rules, key=lambda r: r.priority)))


def _rule(raw: dict[str, Any]) -> Rule:
    selection, action = raw["selection"], raw["action"]
    status = selection["tagStatus"]
    prefixes, patterns = selection.get("tagPrefixList"), selection.get("tagPatternList")
    if status == TAGGED and not prefixes and not patterns:
        raise PolicyInvalid("Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED.")
    if status != TAGGED and (prefixes is not None or patterns is not None):
        raise PolicyInvalid("tagPrefixList and tagPatternList may only be used when "
                            "tagStatus=TAGGED.")
    if prefixes is not None and patterns is not None:
        raise PolicyInvalid("A rule may specify tagPrefixList or tagPatternList, not both.")
    for pattern in patterns or ():
        if pattern.count("*") > MAX_WILDCARDS:
            raise PolicyInvalid(f"Invalid tagPatternList: '{pattern}' has more than "
                                f"{MAX_WILDCARDS} wildcards.")
    count_type = selection["countType"]
    if ("countUnit" in selection) != (count_type != COUNT_MORE_THAN):
        raise PolicyInvalid(_NO_SHAPE)
    storage_class = selection.get("storageClass", STANDARD)
    kind, target = action["type"], action.get("targetStorageClass")
    _check_action(count_type, storage_class, kind, target, selection["countNumber"])
    return Rule(priority=raw["rulePriority"], tag_status=status, prefixes=tuple(prefixes or ()),
                patterns=tuple(_wildcard(p) for p in patterns or ()),
                storage_class=storage_class, count_type=count_type,
                count=selection["countNumber"], action=kind,
                description=raw.get("description", ""))


def _check_action(count_type: str, storage_class: str, kind: str, target: str | None,
                  count: int) -> None:
    if (kind == TRANSITION) != (target is not None):
        raise PolicyInvalid(_NO_SHAPE)  # transition needs its target; expire has none
    if count_type == SINCE_TRANSITIONED:
        if storage_class != ARCHIVE or kind != EXPIRE:
            raise PolicyInvalid("countType sinceImageTransitioned requires storageClass "
                                "archive and the expire action.")
        if count < MIN_ARCHIVE_DAYS:
            raise PolicyInvalid(f"Images cannot be expired from archive before "
                                f"{MIN_ARCHIVE_DAYS} days: countNumber must be at least "
                                f"{MIN_ARCHIVE_DAYS}.")
    elif storage_class != STANDARD:
        raise PolicyInvalid("storageClass archive can only be selected with countType "
                            "sinceImageTransitioned.")
    if count_type == SINCE_PULLED and kind != TRANSITION:
        raise PolicyInvalid("countType sinceImagePulled can only be used with the "
                            "transition action.")


def _check_together(rules: list[Rule]) -> None:
    if len(rules) > MAX_RULES:
        raise PolicyInvalid(f"A lifecycle policy can have at most {MAX_RULES} rules.")
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise PolicyInvalid("The rulePriority of each rule must be unique.")
    for storage_class in (STANDARD, ARCHIVE):
        chosen = [r for r in rules if r.storage_class == storage_class]
        if sum(r.tag_status == UNTAGGED for r in chosen) > 1:
            raise PolicyInvalid("Only one rule can select Untagged images per storage class.")
        lowest = max((r.priority for r in chosen), default=0)
        if any(r.tag_status == ANY and r.priority != lowest for r in chosen):
            raise PolicyInvalid("Rule for tagStatus=ANY must have the lowest priority per "
                                "storage class")
        selections = [(frozenset(r.prefixes), frozenset(p.pattern for p in r.patterns))
                      for r in chosen if r.tag_status == TAGGED]
        if len(set(selections)) != len(selections):
            raise PolicyInvalid("The rules selecting a storage class must have unique "
                                "tagPrefixList and tagPatternList values.")


def _wildcard(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
          float: "number", type(None): "null"}


def _fge_message(error) -> str:
    """A jsonschema error worded as fge's json-schema-validator (ECR's) words it."""
    kind, instance = error.validator, error.instance
    if kind == "required":
        missing = sorted(set(error.validator_value) - set(instance))
        return f"object has missing required properties ({_json(missing)})"
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = sorted(k for k in instance if k not in known)
        return f"object instance has properties which are not allowed by the schema: {_json(extra)}"
    if kind == "enum" and (error.path and error.path[-1] in _SHAPE_KEYS and
                           (instance is None or error.path[-1] == "countType")):
        return _NO_SHAPE
    if kind == "enum":
        return (f"instance value ({_json(instance)}) not found in enum "
                f"(possible values: {_json(error.validator_value)})")
    if kind == "type":
        found = "integer" if isinstance(instance, float) and instance.is_integer() else \
            _TYPES.get(type(instance), "unknown")
        return (f"instance type ({found}) does not match any allowed primitive type "
                f"(allowed: {_json([error.validator_value])})")
    if kind == "minimum":
        return (f"numeric instance is lower than the required minimum "
                f"(minimum: {error.validator_value}, found: {instance})")
    return error.message
