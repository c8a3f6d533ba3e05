"""Reading one layer: its tar stream (gzip, zstd or plain, told apart by magic bytes, since
media types are not always honest) is walked once, member by member; only the files a detector
wants are read, each bounded in size, so memory stays small whatever the layer holds. What a
layer records: the packages each of its files lists, the os-release files, and what it deletes
from the layers below it (whiteouts)."""
from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import zstandard

from ..packages import DetectorError, Distro, Package
from . import executables
from .detectors import detector_for
from .distro import OS_RELEASE_PATHS, parse_os_release

# What this reader finds of a layer, as a number: raised whenever a detector is added or
# reads more, so that layers inventoried before are read again (their rows keep the number).
# 1: npm lock files.
READER = 1
WHITEOUT, OPAQUE = ".wh.", ".wh..wh..opq"
MAX_OS_RELEASE = 64 * 1024
MIN_EXECUTABLE = 4096  # smaller ones are scripts and stubs


class LayerUnreadable(ValueError):
    """The layer is not a (compressed) tar stream Berth can read, or breaks a limit."""


@dataclass
class LayerInventory:
    files: dict[str, list[Package]] = field(default_factory=dict)
    distros: dict[str, Distro] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)   # paths deleted below
    opaque: list[str] = field(default_factory=list)      # directories emptied below

    def dumps(self) -> bytes:
        return zlib.compress(orjson.dumps({
            "files": {p: [pkg.to_json() for pkg in pkgs] for p, pkgs in self.files.items()},
            "distros": {p: [d.id, d.version_id, d.pretty_name] for p, d in self.distros.items()},
            "whiteouts": self.whiteouts, "opaque": self.opaque}))

    @classmethod
    def loads(cls, content: bytes, digest: str = "") -> "LayerInventory":
        """The stored inventory, its packages marked as this layer's (``digest``)."""
        data = orjson.loads(zlib.decompress(content))
        return cls({p: [Package.from_json({**x, "layer": digest or x.get("layer", "")})
                        for x in pkgs] for p, pkgs in data["files"].items()},
                   {p: Distro(*d) for p, d in data["distros"].items()},
                   data["whiteouts"], data["opaque"])


class _ChunkReader(io.RawIOBase):
    """A file over an iterator of byte chunks (the blob as storage hands it out)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._rest = chunks, b""

    def prefix(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer at the end), still to be read: however storage
        cut the blob into chunks."""
        while len(self._rest) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._rest += bytes(chunk)
        return self._rest[:size]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = bytes(chunk)
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


class _Bounded(io.RawIOBase):
    """Counts the uncompressed bytes read and stops a stream past ``limit`` (a gzip bomb)."""

    def __init__(self, raw, limit: int):
        self._raw, self._limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.count += n
        if self.count > self._limit:
            raise LayerUnreadable(f"the layer unpacks to more than {self._limit} bytes")
        return n


def _decompressed(reader: _ChunkReader):
    magic = reader.prefix(4)
    raw = io.BufferedReader(reader, 1 << 20)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def read_layer(chunks: Iterator[bytes], max_bytes: int, max_members: int) -> LayerInventory:
    """The inventory of one layer, read from its bytes in one pass."""
    stream = io.BufferedReader(_Bounded(_decompressed(_ChunkReader(chunks)), max_bytes), 1 << 20)
    inventory = LayerInventory()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar):
                if count >= max_members:
                    raise LayerUnreadable(f"the layer has more than {max_members} entries")
                _take(tar, member, inventory)
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
        raise LayerUnreadable(f"the layer is not a readable tar archive: {exc}") from None
    return inventory


def normalize(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def _take(tar: tarfile.TarFile, member: tarfile.TarInfo, inventory: LayerInventory) -> None:
    path = normalize(member.name)
    head, _, base = path.rpartition("/")
    if base.startswith(WHITEOUT):
        if base == OPAQUE:
            inventory.opaque.append(head)
        else:
            inventory.whiteouts.append(f"{head}/{base[len(WHITEOUT):]}".lstrip("/"))
        return
    if not member.isreg():
        return
    if path in OS_RELEASE_PATHS:
        if member.size <= MAX_OS_RELEASE:
            distro = parse_os_release(_read(tar, member))
            if distro is not None:
                inventory.distros[path] = distro
        return
    detector = detector_for(path, True)
    if detector is None:
        if member.mode & 0o111 and MIN_EXECUTABLE <= member.size:
            _executable(tar, member, path, inventory)
        return
    if member.size > detector.max_bytes:
        return
    try:
        found = detector.parse(path, _read(tar, member))
    except DetectorError as exc:
        raise DetectorError(f"{path}: {exc}") from None
    if found:
        inventory.files[path] = found


def _executable(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str,
                inventory: LayerInventory) -> None:
    handle = tar.extractfile(member)
    found = executables.packages(handle.read, member.size, path) if handle else []
    if found:
        inventory.files[path] = found


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""
