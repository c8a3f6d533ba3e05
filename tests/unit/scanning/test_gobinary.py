"""Go executables' embedded build info (Go 1.18+ layout), read while the file streams: the
toolchain's standard library and every module, replacements applied; non-ELF files and
binaries without build info give nothing; the magic found across a chunk boundary."""
import io
import shutil
from pathlib import Path

import pytest

from berth.scanning.inventory import gobinary

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
    assert _read(_binary(100, flags=0)) == []  # Go before 1.18: pointers, not inline strings


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
