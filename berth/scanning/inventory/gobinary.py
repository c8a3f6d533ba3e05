"""Go executables: the module versions the Go linker embeds (``go version -m``'s build info: a
32-byte header after the "\\xff Go buildinf:" magic; from Go 1.18 the Go version and the
module information follow it as length-prefixed strings, before that the header holds
pointers to them, which only a file read whole can follow). A large file is searched as it
streams, never held whole; the standard library is reported as OSV's "stdlib"."""
from __future__ import annotations

import struct
from typing import Callable

from packageurl import PackageURL

from ..packages import GO, Package

MAGIC = b"\xff Go buildinf:"
HEADER = 32
INLINE_STRINGS = 0x2
CHUNK = 1 << 20
TAIL = 1 << 20   # what follows the magic: room for thousands of modules


def read_buildinfo(read) -> bytes | None:
    """The bytes from the magic on (``TAIL`` of them), found while reading ``read(n)`` to the
    end; None if the file is not an ELF executable or has no build info."""
    head = read(CHUNK)
    if not head.startswith(b"\x7fELF"):
        return None
    window = head
    while window:
        at = window.find(MAGIC)
        if at >= 0:
            found = window[at:]
            while len(found) < TAIL:
                more = read(TAIL - len(found))
                if not more:
                    break
                found += more
            return found[:TAIL]
        keep = window[-(len(MAGIC) - 1):]
        chunk = read(CHUNK)
        window = keep + chunk if chunk else b""
    return None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


# ``memory(address, size)``: the executable's bytes at a virtual address (b"" if unmapped).
Memory = Callable[[int, int], bytes]


def _strings(info: bytes, memory: Memory | None) -> tuple[bytes, bytes] | None:
    if len(info) < HEADER:
        return None
    if not info[15] & INLINE_STRINGS:
        return _pointed(info, memory) if memory is not None else None
    at = HEADER
    found = []
    for _ in range(2):
        length, at = _varint(info, at)
        if at + length > len(info):
            return None
        found.append(info[at:at + length])
        at += length
    return found[0], found[1]


def _pointed(info: bytes, memory: Memory) -> tuple[bytes, bytes] | None:
    """Before Go 1.18: the header's two pointers (of its pointer size and byte order) to Go
    string headers (data pointer, length) of the version and the module information."""
    size, order = info[14], ">" if info[15] & 1 else "<"
    if size not in (4, 8):
        return None
    word = order + ("I" if size == 4 else "Q")
    found = []
    for pointer in struct.unpack_from(order + word[1] * 2, info, 16):
        head = memory(pointer, 2 * size)
        if len(head) < 2 * size:
            return None
        address, length = struct.unpack(order + word[1] * 2, head)
        text = memory(address, length) if length <= TAIL else b""
        if len(text) < length:
            return None
        found.append(text)
    return found[0], found[1]


def packages(info: bytes, path: str, memory: Memory | None = None) -> list[Package]:
    """The Go toolchain's standard library and every module a Go binary was built from
    (``memory``: the whole file's, for the pointers of binaries older than Go 1.18)."""
    try:
        strings = _strings(info, memory)
    except ValueError:
        return []
    if strings is None:
        return []
    go_version, raw = strings
    if len(raw) >= 33 and raw[-17:-16] == b"\n":
        raw = raw[16:-16]  # sentinels around the text
    modinfo = raw.decode("utf-8", "replace")
    go_version = go_version.decode("utf-8", "replace")
    found = []
    if go_version.startswith("go"):
        found.append(_package("stdlib", go_version[2:].split(" ", 1)[0], path))
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3 and fields[2] != "(devel)":
            found.append(_package(fields[1], fields[2], path))
        elif fields[0] == "=>" and len(fields) >= 3 and found:  # the module just listed
            found[-1] = _package(fields[1], fields[2], path)
    return [p for p in found if p is not None]


def _package(module: str, version: str, path: str) -> Package | None:
    namespace, _, name = module.rpartition("/")
    try:
        purl = PackageURL(type="golang", namespace=namespace or None, name=name,
                          version=version).to_string()
    except (ValueError, TypeError):  # a module path packageurl cannot write: not one
        return None
    return Package("Go", module, version, purl, path, GO)
