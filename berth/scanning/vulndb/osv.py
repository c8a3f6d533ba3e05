"""Reading OSV advisories (https://ossf.github.io/osv-schema/): records from the bulk
``<Ecosystem>-all.zip`` files, single ``.json`` files or folders of them, and the packages
each record affects."""
from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson


class InvalidAdvisory(ValueError):
    """An advisory that is not a JSON object: ``source`` names the file or zip member."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def read_records(path: Path) -> Iterator[dict]:
    """The OSV records in ``path``: a zip of ``.json`` members, one ``.json`` file, or a folder
    searched recursively. Records are parsed one at a time, as they are consumed."""
    path = Path(path)
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.is_file():
                yield _parse(file.read_bytes(), str(file))
    elif path.suffix.lower() == ".zip":
        yield from _read_zip(path)
    else:
        yield _parse(path.read_bytes(), str(path))


def _read_zip(path: Path) -> Iterator[dict]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InvalidAdvisory(str(path), f"not a zip archive: {exc}") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:  # bad CRC, cut
                raise InvalidAdvisory(info.filename, f"unreadable: {exc}") from exc
            yield _parse(data, info.filename)


def _parse(data: bytes, source: str) -> dict:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidAdvisory(source, f"not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise InvalidAdvisory(source, f"not a JSON object but {type(record).__name__}")
    return record


@dataclass(frozen=True)
class AffectedEntry:
    """One ``affected[]`` object of a record: the package it names (``ecosystem`` as OSV
    writes it, release suffix included, e.g. "Debian:12"; ``name`` normalized) and the
    object itself, for :func:`berth.scanning.vulndb.matching.match`."""
    vuln_id: str
    ecosystem: str
    name: str
    affected: dict = field(hash=False)


def entries(record: dict) -> list[AffectedEntry]:
    """One entry per affected package of ``record``; none for a withdrawn record, and none
    for an ``affected`` object that names no package (GIT-only objects do that)."""
    vuln_id = record.get("id")
    if record.get("withdrawn") or not isinstance(vuln_id, str):
        return []
    found = []
    for affected in record.get("affected") or ():
        package = affected.get("package") if isinstance(affected, dict) else None
        if not isinstance(package, dict):
            continue
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if isinstance(ecosystem, str) and isinstance(name, str) and ecosystem and name:
            found.append(AffectedEntry(vuln_id, ecosystem, normalize_name(ecosystem, name),
                                       affected))
    return found


_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(ecosystem: str, name: str) -> str:
    """``name`` as packages are looked up: PyPI names per PEP 503 (an installed
    ``Jinja2``/``jw_util`` is advised as ``jinja2``/``jw.util``); other ecosystems' names
    are compared as written (Go module paths are case-sensitive)."""
    if base_ecosystem(ecosystem) == "PyPI":
        return _PEP503_SEPARATORS.sub("-", name).lower()
    return name


def base_ecosystem(ecosystem: str) -> str:
    """The ecosystem without its release or repository suffix: "Debian:12" -> "Debian",
    "Maven:https://maven.google.com" -> "Maven"."""
    return ecosystem.split(":", 1)[0]
