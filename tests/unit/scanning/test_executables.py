"""Executables that list their dependencies: Rust programs built with cargo-auditable (the
``.dep-v0`` ELF section, added to a real executable by objcopy) report their crates.io crates
(not the program's own crate, not build-time dependencies); Go programs their modules; other
ELF files and non-ELF files nothing; a broken section nothing rather than a failure."""
import io
import shutil
from pathlib import Path

import pytest

from berth.scanning.inventory import executables
from tests.support.rust_binary import auditable_binary, crate


def _packages(data: bytes, path: str = "usr/bin/app"):
    return executables.packages(io.BytesIO(data).read, len(data), path)


def test_cargo_auditable_crates(tmp_path):
    data = auditable_binary(tmp_path, [
        crate("app", "0.1.0", source="local", root=True, dependencies=[1, 2]),
        crate("smallvec", "1.6.0"), crate("time", "0.1.43"),
        crate("cc", "1.0.0", kind="build"), crate("private", "2.0.0", source="registry")])
    found = _packages(data)
    assert [(p.name, p.version, p.purl) for p in found] == [
        ("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0"),
        ("time", "0.1.43", "pkg:cargo/time@0.1.43")]
    assert {(p.ecosystem, p.manager, p.path) for p in found} == {
        ("crates.io", "CARGO", "usr/bin/app")}


def test_the_section_is_found_by_name_among_the_real_ones(tmp_path):
    data = auditable_binary(tmp_path, [crate("smallvec", "1.6.0")])
    assert executables.elf_section(data, b".text")  # a real executable's own sections
    assert executables.elf_section(data, b".nothing") is None
    assert executables.elf_section(b"\x7fELF" + b"\0" * 100, b".dep-v0") is None


def test_a_broken_section_gives_nothing(tmp_path):
    data = auditable_binary(tmp_path, [crate("smallvec", "1.6.0")])
    section = executables.elf_section(data, b".dep-v0")
    broken = data.replace(section, b"\x78\x9c" + b"\xff" * (len(section) - 2))
    assert _packages(broken) == []
    assert executables.crates(b"\x78\x9c" + b"not zlib", "x") == []


def test_plain_executables_and_scripts_give_nothing():
    assert _packages(Path(shutil.which("true")).read_bytes()) == []
    assert _packages(b"#!/bin/sh\n" + b"echo hi\n" * 1000) == []


def test_a_go_program_read_whole_or_streamed_finds_the_same(monkeypatch):
    data = Path(shutil.which("skopeo")).read_bytes()
    whole = _packages(data)
    monkeypatch.setattr(executables, "IN_MEMORY", 1 << 20)  # larger: searched as it streams
    assert whole and _packages(data) == whole
    assert whole[0].name == "stdlib"


@pytest.mark.parametrize("garbage", [b"\x7fELF\x02\x01" + b"\xff" * 100,
                                     b"\x7fELF\x01\x02" + b"\x00\x10" * 40])
def test_garbled_elf_headers_give_nothing(garbage):
    assert _packages(garbage) == []
