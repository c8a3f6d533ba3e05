"""Go executables' embedded build info, the Go 1.18+ layout read while the file streams: the
toolchain's standard library and every module, replacements applied; non-ELF files and
binaries without build info give nothing; the magic found across a chunk boundary. The older
layout (pointers to Go strings, followed through the ELF's loadable segments) from a file
read whole, 64 and 32-bit, either byte order."""
import io
import shutil
import struct
from pathlib import Path

import pytest

from berth.scanning.inventory import executables, gobinary

START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
END = bytes.fromhex("f932433186182072008242104116d8f2")
MODINFO = ("path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
           "dep\tgithub.com/gorilla/mux\tv1.8.0\th1:abc=\n"
           "dep\tgolang.org/x/text\tv0.3.0\th1:def=\n=>\tgolang.org/x/text\tv0.3.8\th1:ghi=\n"
           "build\t-compiler=gc\n")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _binary(padding: int, version: str = "go1.21.3", modinfo: str = MODINFO,
            flags: int = 2) -> bytes:
    header = (gobinary.MAGIC + bytes([8, flags])).ljust(32, b"\0")
    info = START + modinfo.encode() + END
    return (b"\x7fELF" + b"\0" * padding + header + _varint(len(version)) + version.encode()
            + _varint(len(info)) + info + b"\0" * 1000)


def _read(data: bytes):
    stream = io.BytesIO(data)
    info = gobinary.read_buildinfo(stream.read)
    return gobinary.packages(info, "usr/bin/app") if info else []


def test_modules_and_the_standard_library_with_replacements_applied():
    found = _read(_binary(5000))
    assert [(p.name, p.version) for p in found] == [
        ("stdlib", "1.21.3"), ("github.com/gorilla/mux", "v1.8.0"),
        ("golang.org/x/text", "v0.3.8")]
    assert all(p.ecosystem == "Go" and p.manager == "GOBINARY" and p.path == "usr/bin/app"
               for p in found)
    assert found[1].purl == "pkg:golang/github.com/gorilla/mux@v1.8.0"


@pytest.mark.parametrize("cut", range(1, len(gobinary.MAGIC)))
def test_the_magic_is_found_across_a_chunk_boundary(cut):
    padding = gobinary.CHUNK - 4 - cut  # the magic starts ``cut`` bytes before the boundary
    assert [p.name for p in _read(_binary(padding))][:2] == ["stdlib", "github.com/gorilla/mux"]


def test_not_elf_or_no_build_info_or_old_layout_give_nothing():
    assert _read(b"#!/bin/sh\necho hi\n" * 500) == []
    assert _read(b"\x7fELF" + b"\0" * 100_000) == []
    assert _read(_binary(100, flags=0)) == []  # before Go 1.18, streamed: pointers not followed


def test_truncated_build_info_gives_nothing_rather_than_failing():
    data = _binary(100)
    cut = data.index(gobinary.MAGIC) + 40
    assert _read(data[:cut]) == []


def test_a_real_go_program():
    skopeo = shutil.which("skopeo")  # installed for the e2e tests; built with Go by Debian
    assert skopeo, "skopeo is one of the tools the tests install"
    with Path(skopeo).open("rb") as fh:
        info = gobinary.read_buildinfo(fh.read)
    found = gobinary.packages(info, "usr/bin/skopeo")
    assert found and found[0].name == "stdlib" and found[0].version.count(".") == 2


# -- before Go 1.18: pointers ---------------------------------------------------------------
BASE = 0x400000


def _old_binary(wide: bool, big: bool, version: str = "go1.16.15",
                modinfo: str = MODINFO) -> bytes:
    """An ELF file whose one loadable segment maps the whole file at BASE, with pre-1.18
    build info: the header's pointers lead to Go string headers (pointer, length)."""
    order, word = (">" if big else "<"), ("Q" if wide else "I")
    size = 8 if wide else 4
    file = bytearray(8192)
    file[:6] = b"\x7fELF" + bytes([2 if wide else 1, 2 if big else 1])
    if wide:  # e_phoff, then e_phentsize and e_phnum; one PT_LOAD program header at 64
        struct.pack_into(order + "Q", file, 0x20, 64)
        struct.pack_into(order + "HH", file, 0x36, 56, 1)
        struct.pack_into(order + "IIQQQQQQ", file, 64, 1, 5, 0, BASE, BASE, 8192, 8192, 4096)
    else:
        struct.pack_into(order + "I", file, 0x1C, 52)
        struct.pack_into(order + "HH", file, 0x2A, 32, 1)
        struct.pack_into(order + "IIIIIIII", file, 52, 1, 0, BASE, BASE, 8192, 8192, 5, 4096)
    texts = {2048: version.encode(), 4096: START + modinfo.encode() + END}
    heads = {1024: 2048, 1040: 4096}  # Go string headers -> their text
    for at, text in texts.items():
        file[at:at + len(text)] = text
    for at, target in heads.items():
        struct.pack_into(order + word * 2, file, at, BASE + target, len(texts[target]))
    header = gobinary.MAGIC + bytes([size, 1 if big else 0])
    file[512:512 + len(header)] = header
    struct.pack_into(order + word * 2, file, 512 + 16, BASE + 1024, BASE + 1040)
    return bytes(file)


@pytest.mark.parametrize("wide, big", [(True, False), (False, False), (True, True),
                                       (False, True)], ids=["64le", "32le", "64be", "32be"])
def test_before_go_1_18_the_pointers_are_followed_in_a_file_read_whole(wide, big):
    data = _old_binary(wide, big)
    found = executables.packages(io.BytesIO(data).read, len(data), "usr/bin/old")
    assert [(p.name, p.version) for p in found] == [
        ("stdlib", "1.16.15"), ("github.com/gorilla/mux", "v1.8.0"),
        ("golang.org/x/text", "v0.3.8")]


def test_before_go_1_18_pointers_nowhere_give_nothing():
    data = bytearray(_old_binary(True, False))
    struct.pack_into("<Q", data, 512 + 16, BASE + 100_000)  # past the loaded segment
    assert executables.packages(io.BytesIO(bytes(data)).read, len(data), "usr/bin/old") == []
    data = bytearray(_old_binary(True, False))
    struct.pack_into("<QQ", data, 1024, BASE + 2048, 1 << 40)  # an absurd length
    assert executables.packages(io.BytesIO(bytes(data)).read, len(data), "usr/bin/old") == []
    data = bytearray(_old_binary(True, False))
    data[512 + 14] = 3  # no such pointer size
    assert executables.packages(io.BytesIO(bytes(data)).read, len(data), "usr/bin/old") == []
