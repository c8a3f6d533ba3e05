"""Programs that carry their dependency list inside: Go binaries (the linker's build info) and
Rust binaries built with cargo-auditable (a zlib-compressed JSON list of crates in the ELF
section ``.dep-v0``). An ELF file up to ``IN_MEMORY`` bytes is read whole, once, for both;
a larger one is searched for Go's build info as it streams, never held."""
from __future__ import annotations

import struct
import zlib

import orjson
from packageurl import PackageURL

from ..packages import CARGO, Package
from . import gobinary

IN_MEMORY = 64 << 20
MAX_JSON = 16 << 20
SECTION = b".dep-v0"


def packages(read, size: int, path: str) -> list[Package]:
    """The packages an executable (``read(n)`` over its bytes, ``size`` of them) lists."""
    if size > IN_MEMORY:
        info = gobinary.read_buildinfo(read)
        return gobinary.packages(info, path) if info else []
    data = read(size)
    if not data.startswith(b"\x7fELF"):
        return []
    at = data.find(gobinary.MAGIC)
    if at >= 0:
        return gobinary.packages(data[at:at + gobinary.TAIL], path, elf_memory(data))
    section = elf_section(data, SECTION)
    return crates(section, path) if section else []


def elf_section(data: bytes, wanted: bytes) -> bytes | None:
    """The contents of the ELF section named ``wanted`` (32 or 64-bit, either byte order)."""
    ident = _ident(data)
    if ident is None:
        return None
    wide, order = ident
    try:
        shoff, entsize, count, names = _table(data, wide, order, sections=True)
        headers = [_section_header(data, order, wide, shoff + i * entsize) for i in range(count)]
        if names >= len(headers):
            return None
        table_at, table_size = headers[names][1:]
        table = data[table_at:table_at + table_size]
        for name_at, offset, length in headers:
            end = table.find(b"\0", name_at)
            if table[name_at:end] == wanted and offset + length <= len(data):
                return data[offset:offset + length]
    except (struct.error, OverflowError):  # offsets past the file, or absurd
        return None
    return None


def elf_memory(data: bytes) -> gobinary.Memory | None:
    """``read(address, size)``: an ELF file's bytes at a virtual address, through its loadable
    segments (b"" where none maps it); None if the program headers cannot be read."""
    ident = _ident(data)
    if ident is None:
        return None
    wide, order = ident
    try:
        table, entsize, count, _ = _table(data, wide, order, sections=False)
        segments = [_segment(data, order, wide, table + i * entsize) for i in range(count)]
    except (struct.error, OverflowError):
        return None
    loaded = [(vaddr, offset, size) for kind, offset, vaddr, size in segments if kind == 1]

    def read(address: int, size: int) -> bytes:
        for vaddr, offset, length in loaded:
            if vaddr <= address < vaddr + length:
                start = offset + address - vaddr
                return data[start:start + min(size, vaddr + length - address)]
        return b""
    return read


def _ident(data: bytes) -> tuple[bool, str] | None:
    """(64-bit, struct byte order) of an ELF file, None if its identification is not one."""
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    return data[4] == 2, "<" if data[5] == 1 else ">"


def _table(data: bytes, wide: bool, order: str, sections: bool) -> tuple[int, int, int, int]:
    """(file offset, entry size, entry count, section-name table index) of the section
    header table or the program header table, from the ELF header."""
    if wide:
        at, sizes = (0x28, 0x3A) if sections else (0x20, 0x36)
        offset, = struct.unpack_from(order + "Q", data, at)
    else:
        at, sizes = (0x20, 0x2E) if sections else (0x1C, 0x2A)
        offset, = struct.unpack_from(order + "I", data, at)
    entsize, count, names = struct.unpack_from(order + "HHH", data, sizes)
    return offset, entsize, count, names


def _segment(data: bytes, order: str, wide: bool, at: int) -> tuple[int, int, int, int]:
    """(type, file offset, virtual address, size in the file) of the program header at ``at``."""
    if wide:
        kind, _, offset, vaddr, _, size = struct.unpack_from(order + "IIQQQQ", data, at)
    else:
        kind, offset, vaddr, _, size = struct.unpack_from(order + "IIIII", data, at)
    return kind, offset, vaddr, size


def _section_header(data: bytes, order: str, wide: bool, at: int) -> tuple[int, int, int]:
    """(name offset, file offset, size) of the section header at ``at``."""
    if wide:
        name, = struct.unpack_from(order + "I", data, at)
        offset, size = struct.unpack_from(order + "QQ", data, at + 24)
    else:
        name, = struct.unpack_from(order + "I", data, at)
        offset, size = struct.unpack_from(order + "II", data, at + 16)
    return name, offset, size


def crates(section: bytes, path: str) -> list[Package]:
    """cargo-auditable's list: every crate from crates.io linked into the binary (build-time
    dependencies, kind "build", are not in it)."""
    try:
        text = zlib.decompressobj().decompress(section, MAX_JSON)
        listed = orjson.loads(text).get("packages") or []
    except (zlib.error, orjson.JSONDecodeError, AttributeError):
        return []
    found = []
    for crate in listed:
        if (not isinstance(crate, dict) or crate.get("source") != "crates.io"
                or crate.get("kind") == "build"):
            continue
        name, version = crate.get("name"), crate.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            try:
                purl = PackageURL(type="cargo", name=name, version=version).to_string()
            except (ValueError, TypeError):
                continue  # not a crate name
            found.append(Package("crates.io", name, version, purl, path, CARGO))
    return found
