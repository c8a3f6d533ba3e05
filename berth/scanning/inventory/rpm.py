"""RPM databases: the SQLite format (RHEL 9 and its rebuilds, Fedora 33+, openSUSE:
``rpmdb.sqlite``'s Packages table, opened from its bytes in memory, never written to disk) and
the Berkeley DB format of older releases (``Packages``, read by ``rpm_bdb``). Both hold each
installed package's header blob, read here for name, epoch, version, release, arch and
source RPM."""
from __future__ import annotations

import sqlite3
import struct

from packageurl import PackageURL

from ..packages import OS, DetectorError, Package
from . import rpm_bdb

PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite",
         "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages")
NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
INT32, STRING = 4, 6
_ENTRY = struct.Struct(">iIiI")
MAX_ENTRIES = 1 << 16


def wants(path: str) -> bool:
    return path in PATHS


def parse(path: str, data: bytes) -> list[Package]:
    blobs = rpm_bdb.headers(data) if path.endswith("/Packages") else _sqlite_headers(data)
    found = []
    for blob in blobs:
        tags = header(blob)
        name, version, release = tags.get(NAME), tags.get(VERSION), tags.get(RELEASE)
        if not (isinstance(name, str) and isinstance(version, str) and isinstance(release, str)):
            continue  # the gpg-pubkey pseudo packages have these; anything else is skipped
        try:
            found.append(_package(path, name, version, release, tags))
        except (ValueError, TypeError):
            continue  # a name or version packageurl cannot write
    return found


def _sqlite_headers(data: bytes) -> list[bytes]:
    if not data.startswith(b"SQLite format 3\0"):
        raise DetectorError("not an rpm SQLite database: no SQLite header")
    if data[18:20] == b"\x02\x02":  # WAL mode, which an in-memory database cannot open
        data = data[:18] + b"\x01\x01" + data[20:]
    try:
        with sqlite3.connect(":memory:") as db:
            db.deserialize(data)
            return [row[0] for row in db.execute("SELECT blob FROM Packages")]
    except (sqlite3.Error, ValueError, OverflowError, MemoryError) as exc:
        raise DetectorError(f"not an rpm SQLite database: {exc}") from None


def _package(path: str, name: str, version: str, release: str, tags: dict) -> Package:
    epoch = tags.get(EPOCH)
    evr = f"{epoch}:{version}-{release}" if isinstance(epoch, int) and epoch else \
        f"{version}-{release}"
    arch = tags.get(ARCH) if isinstance(tags.get(ARCH), str) else None
    qualifiers = {"arch": arch} if arch else {}
    if isinstance(epoch, int) and epoch:
        qualifiers["epoch"] = str(epoch)
    purl = PackageURL(type="rpm", name=name, version=f"{version}-{release}",
                      qualifiers=qualifiers or None).to_string()
    source = tags.get(SOURCERPM)
    source_name = _source_name(source) if isinstance(source, str) else None
    return Package("RPM", name, evr, purl, path, OS,
                   source_name if source_name != name else None, None, arch)


def _source_name(source_rpm: str) -> str | None:
    """"openssl-3.0.7-24.el9.src.rpm" -> "openssl" (name-version-release.arch.rpm)."""
    stem = source_rpm.removesuffix(".rpm").rsplit(".", 1)[0]
    parts = stem.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else None


def header(blob: bytes) -> dict[int, object]:
    """The strings and first integers of an rpm header blob (index count, data length, the
    index entries, the data store; big-endian); only the tags read here."""
    if not isinstance(blob, bytes) or len(blob) < 8:
        return {}
    count, size = struct.unpack_from(">ii", blob)
    start = 8 + count * _ENTRY.size
    if not 0 <= count <= MAX_ENTRIES or size < 0 or start + size > len(blob):
        return {}
    store = blob[start:start + size]
    found: dict[int, object] = {}
    for i in range(count):
        tag, kind, offset, _ = _ENTRY.unpack_from(blob, 8 + i * _ENTRY.size)
        if tag not in (NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM) or not 0 <= offset < size:
            continue
        if kind == STRING:
            end = store.find(b"\0", offset)
            found[tag] = store[offset:end if end >= 0 else size].decode("utf-8", "replace")
        elif kind == INT32 and offset + 4 <= size:
            found[tag] = struct.unpack_from(">i", store, offset)[0]
    return found
