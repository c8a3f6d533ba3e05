"""Whether a package version is affected by one OSV ``affected[]`` object, following the
schema's evaluation algorithm (https://ossf.github.io/osv-schema/#evaluation), with
versions ordered by univers' per-ecosystem classes."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from berth.scanning.vulndb.osv import base_ecosystem

if TYPE_CHECKING:
    from univers.versions import Version

# univers' class per ecosystem, by name: univers (~3 MB) is imported with the first match,
# which most server processes, never scanning, do not make.
_CLASSES = {
    "PyPI": "PypiVersion",
    "npm": "SemverVersion",
    "crates.io": "SemverVersion",
    "cargo": "SemverVersion",  # crates.io's purl type, as some inventories name it
    "Packagist": "SemverVersion",
    "Go": "GolangVersion",
    "Debian": "DebianVersion",
    "Ubuntu": "DebianVersion",
    "Alpine": "AlpineLinuxVersion",
    "Wolfi": "AlpineLinuxVersion",
    "Chainguard": "AlpineLinuxVersion",
    "Red Hat": "RpmVersion",
    "Rocky Linux": "RpmVersion",
    "AlmaLinux": "RpmVersion",
    "Photon OS": "RpmVersion",
    "Mageia": "RpmVersion",
    "openSUSE": "RpmVersion",
    "SUSE": "RpmVersion",
    "Maven": "MavenVersion",
    "RubyGems": "RubygemsVersion",
    "NuGet": "NugetVersion",
}

_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})
# "0" introduced sorts below every version, a "*" limit above.
_BOTTOM, _TOP = object(), object()


def version_class(ecosystem: str) -> type[Version] | None:
    """The univers class ordering ``ecosystem``'s versions ("Debian:12" as "Debian"), or None
    for an ecosystem without one (only its ``versions`` lists can then match)."""
    name = _CLASSES.get(base_ecosystem(ecosystem))
    return None if name is None else _univers(name)


@cache
def _univers(name: str) -> type[Version]:
    from univers import versions

    return getattr(versions, name)


@dataclass(frozen=True)
class Match:
    """``version`` is affected; ``fixed_in`` is the first version fixing it (None: unfixed,
    or only known from the ``versions`` list)."""
    fixed_in: str | None


def match(ecosystem: str, version: str, affected: dict) -> Match | None:
    """Whether ``version`` of a package of ``ecosystem`` is affected per ``affected`` (one
    OSV ``affected[]`` object): in an ECOSYSTEM or SEMVER range, or listed in ``versions``.
    GIT ranges need the repository's commit graph, so only their ``versions`` count. Never
    raises on versions that cannot be parsed: those fall back to the ``versions`` list."""
    cls = version_class(ecosystem)
    for rng in affected.get("ranges") or ():
        if isinstance(rng, dict):
            found = _match_range(cls, version, rng)
            if found is not None:
                return found
    versions = affected.get("versions")
    return Match(None) if isinstance(versions, list) and version in versions else None


def _match_range(cls: type[Version] | None, version: str, rng: dict) -> Match | None:
    kind = rng.get("type")
    if kind == "SEMVER":
        # SEMVER ranges are SemVer 2.0 whatever the ecosystem; Go's class also drops "v".
        semver = _univers("SemverVersion")
        cls = cls if cls is not None and issubclass(cls, semver) else semver
    elif kind != "ECOSYSTEM" or cls is None:
        return None
    at = _parse(cls, version)
    key = _event_key(rng.get("events"))
    events = None if at is None or key is None else _events(cls, key)
    if events is None:
        return None
    limits = [bound for name, bound, _ in events if name == "limit"]
    if limits and not any(_below(at, bound) for bound in limits):
        return None
    # The schema's IncludedInRanges loop. Events are sorted, so once one lies above the
    # version none after it can apply, and the first "fixed" from there is the fix.
    vulnerable, rest = False, len(events)
    for index, (name, bound, _) in enumerate(events):
        if _below(at, bound):
            rest = index
            break
        if name == "introduced":
            vulnerable = True
        elif name == "fixed" or (name == "last_affected" and _below(bound, at)):
            vulnerable = False
    if not vulnerable:
        return None
    return Match(next((raw for name, _, raw in events[rest:] if name == "fixed"), None))


def _below(a, b) -> bool:
    # Only "<" is used: univers' Alpine (Gentoo) versions define <, > and == but inherit
    # attrs' >= and <=, which compare the version strings as strings.
    if a is _BOTTOM or b is _TOP:
        return a is not b
    if b is _BOTTOM or a is _TOP:
        return False
    return a < b


def _event_key(events) -> tuple | None:
    """The events as a hashable key for :func:`_events`; None if malformed."""
    if not isinstance(events, list):
        return None
    key = []
    for event in events:
        if not isinstance(event, dict):
            return None
        key.extend((name, raw) for name, raw in event.items()
                   if name in _KINDS and isinstance(raw, str))
    return tuple(key)


@lru_cache(maxsize=16384)
def _events(cls: type[Version], key: tuple) -> tuple | None:
    """``(kind, bound, raw)`` sorted by bound; None when a bound cannot be parsed, since
    dropping just that event could turn a fixed range into an unfixed one or vice versa.
    Cached: sorting compares univers versions, a few microseconds each."""
    found = []
    for index, (name, raw) in enumerate(key):
        bound = _bound(cls, name, raw)
        if bound is None:
            return None
        found.append((name, bound, raw, _tie_rank(key, index)))
    found.sort(key=lambda e: (_Sortable(e[1]), e[3]))
    return tuple(event[:3] for event in found)


def _tie_rank(key: tuple, index: int) -> int:
    """Orders events at equal versions, which the schema leaves open. An end written right
    after an introduction of the same version is an empty interval (RustSec writes
    "introduced 0.10.0, fixed 0.10.0" for "0.10.0 and later are safe"): it stays after it.
    Any other end goes first: it closes an earlier interval that the introduction reopens
    (PYSEC-2022-42972 writes [0.13.0, 0.14.0rc1) before [0.12.2, 0.13.0))."""
    name, raw = key[index]
    if name == "introduced" or name == "limit":
        return 1
    return 2 if index and key[index - 1] == ("introduced", raw) else 0


class _Sortable:
    """A bound that sorts with "<" only (see :func:`_below`)."""
    __slots__ = ("bound",)

    def __init__(self, bound):
        self.bound = bound

    def __lt__(self, other: _Sortable) -> bool:
        return _below(self.bound, other.bound)

    def __eq__(self, other: object) -> bool:  # tuple keys test equality before order
        return isinstance(other, _Sortable) and not (
            _below(self.bound, other.bound) or _below(other.bound, self.bound))


def _bound(cls: type[Version], name: str, raw: str):
    if name == "introduced" and raw == "0":
        return _BOTTOM
    if name == "limit" and "*" in raw:
        return _TOP
    return _parse(cls, raw)


@lru_cache(maxsize=65536)
def _parse(cls: type[Version], text: str) -> Version | None:
    """``text`` as a ``cls`` version, None if it is not one. Cached: univers validates and
    builds a version on each construction (SemVer ones twice)."""
    if not isinstance(text, str):
        return None
    if cls is _univers("GolangVersion"):
        # Go orders modules ignoring build metadata such as "+incompatible".
        text = text.split("+", 1)[0]
    try:
        return cls(text)
    except Exception:  # univers' parsers raise assorted types (NuGet's is a bare Exception)
        return None
