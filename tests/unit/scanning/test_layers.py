"""Reading one layer (berth.scanning.inventory.layers.read_layer) from real tar streams made
here, gzip, zstd or plain: the packages each file lists, os-release, whiteouts, the limits
(member size, unpacked size, entry count) and what is never followed; and stacking layers
(berth.scanning.inventory.image.merge) as a container runtime does."""
from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
import time
import tracemalloc

import pytest
import zstandard

from berth.scanning.inventory.detectors import METADATA_MAX_BYTES
from berth.scanning.inventory.image import ImageInventory, merge
from berth.scanning.inventory.layers import (
    MAX_OS_RELEASE,
    LayerInventory,
    LayerUnreadable,
    read_layer,
)
from berth.scanning.packages import NODE, OS, PYTHON, DetectorError, Distro, Package

DPKG_STATUS = b"""\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

Package: exim4-config
Status: deinstall ok config-files
Architecture: all
Version: 4.96-15+deb12u4

Package: libuuid1
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 2.38.1-5+b1
"""
WHEEL = "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA"
WHEEL_METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nBody: not a header\n"
NPM = "usr/lib/node_modules/npm/node_modules/semver/package.json"
OS_RELEASE = (b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              b'VERSION_ID="12"\nID=debian\n')
BOOKWORM = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")

LIBSSL = Package("Debian", "libssl3", "3.0.11-1~deb12u2",
                 "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64", "var/lib/dpkg/status",
                 OS, "openssl", None, "amd64")
LIBUUID = Package("Debian", "libuuid1", "2.38.1-5+b1",
                  "pkg:deb/debian/libuuid1@2.38.1-5%2Bb1?arch=amd64", "var/lib/dpkg/status",
                  OS, "util-linux", "2.38.1-5", "amd64")
REQUESTS = Package("PyPI", "requests", "2.31.0", "pkg:pypi/requests@2.31.0", WHEEL, PYTHON)
SEMVER = Package("npm", "semver", "7.5.4", "pkg:npm/semver@7.5.4", NPM, NODE)

MiB = 1 << 20


# -- building layers ------------------------------------------------------------------------
class Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read (a bomb never sits in memory whole)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def reg(name: str, data: bytes) -> tuple:
    return ("file", name, data)


def write_tar(fileobj, entries) -> None:
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "zeros":
                info.size = payload
                tar.addfile(info, Zeros(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:  # "symlink" / "hardlink": payload is the link's target
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)


def layer(entries, compression: str = "gzip") -> bytes:
    buffer = io.BytesIO()
    if compression == "gzip":
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
            write_tar(gz, entries)
    elif compression == "zstd":
        with zstandard.ZstdCompressor().stream_writer(buffer, closefd=False) as zst:
            write_tar(zst, entries)
    else:
        write_tar(buffer, entries)
    return buffer.getvalue()


def chunks(data: bytes, size: int = 64 * 1024):
    return iter([data[i:i + size] for i in range(0, len(data), size)])


def read(data: bytes, max_bytes: int = 1 << 30, max_members: int = 10_000) -> LayerInventory:
    return read_layer(chunks(data), max_bytes, max_members)


DEBIAN_ROOT = [
    ("dir", "./var/lib/dpkg", None),
    reg("./var/lib/dpkg/status", DPKG_STATUS),
    reg(WHEEL, WHEEL_METADATA),
    reg(NPM, json.dumps({"name": "semver", "version": "7.5.4"}).encode()),
    reg("usr/lib/os-release", OS_RELEASE),
    reg("usr/bin/true", b"\x7fELF" + bytes(100)),
    reg("usr/share/doc/README", b"Package: not-a-package\nVersion: 1\n"),
]


# -- read_layer -------------------------------------------------------------------------------
@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_packages_and_os_release_are_read_whatever_the_compression(compression):
    inventory = read(layer(DEBIAN_ROOT, compression))
    assert inventory == LayerInventory(
        files={"var/lib/dpkg/status": [LIBSSL, LIBUUID], WHEEL: [REQUESTS], NPM: [SEMVER]},
        distros={"usr/lib/os-release": BOOKWORM}, whiteouts=[], opaque=[])


@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_how_storage_cuts_the_blob_into_chunks_does_not_matter(compression):
    # read_layer takes the blob as storage hands it out: any chunking, even one byte at a
    # time (the compression is told from the first bytes, whichever chunks they came in)
    data = layer(DEBIAN_ROOT, compression)
    whole = read_layer(iter([data]), 1 << 30, 100)
    assert read_layer(iter([data[:1], data[1:]]), 1 << 30, 100) == whole
    assert read_layer(iter([data[i:i + 1] for i in range(len(data))]), 1 << 30, 100) == whole


def test_whiteouts_and_opaque_directories_are_recorded():
    inventory = read(layer([
        reg("usr/local/lib/python3.11/site-packages/.wh.jinja2-3.1.2.dist-info", b""),
        reg("./.wh.tmp", b""),
        reg("opt/app/.wh..wh..opq", b""),
        reg(".wh..wh..opq", b""),
        reg("opt/app/node_modules/left-pad/package.json",
            b'{"name": "left-pad", "version": "1.3.0"}'),
    ]))
    assert inventory.whiteouts == ["usr/local/lib/python3.11/site-packages/jinja2-3.1.2.dist-info",
                                   "tmp"]
    assert inventory.opaque == ["opt/app", ""]
    assert list(inventory.files) == ["opt/app/node_modules/left-pad/package.json"]


def test_a_member_larger_than_its_detectors_limit_is_not_read():
    header = b"Name: small\nVersion: 1.0\n\n"
    at_limit = header + b"x" * (METADATA_MAX_BYTES - len(header))
    inventory = read(layer([
        reg("site-packages/small-1.0.dist-info/METADATA", at_limit),
        reg("site-packages/big-1.0.dist-info/METADATA", at_limit + b"x"),
        reg("etc/os-release", OS_RELEASE + b"#" * (MAX_OS_RELEASE + 1 - len(OS_RELEASE))),
    ], "plain"))
    assert list(inventory.files) == ["site-packages/small-1.0.dist-info/METADATA"]
    assert inventory.distros == {}


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_at_the_limit(compression):
    bomb = layer([("zeros", "var/cache/zeros", 64 * MiB)], compression)
    assert len(bomb) < MiB  # 64 MiB unpacked
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(LayerUnreadable) as caught:
            read(bomb, max_bytes=MiB)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == "the layer unpacks to more than 1048576 bytes"
    assert elapsed < 2.0
    assert peak < 12 * MiB  # a few 1 MiB buffers, never the 64 MiB


def test_gzipped_zeros_read_as_an_empty_archive_without_unpacking_them():
    # 64 MiB of zeros is not a bomb to the tar reader: its first zero block ends the archive.
    zeros = gzip.compress(bytes(64 * MiB), compresslevel=1)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        inventory = read(zeros, max_bytes=MiB)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert inventory == LayerInventory()
    assert elapsed < 1.0 and peak < 12 * MiB


def test_a_layer_within_the_size_limit_is_read():
    data = layer([("zeros", "var/cache/zeros", MiB - 4096), reg(NPM, b'{"name": "semver", '
                                                                  b'"version": "7.5.4"}')])
    assert read(data, max_bytes=MiB + 8192).files == {NPM: [SEMVER]}
    with pytest.raises(LayerUnreadable):
        read(data, max_bytes=MiB)


def test_random_bytes_are_unreadable():
    noise = random.Random(7).randbytes(64 * 1024)
    assert noise[:2] != b"\x1f\x8b" and noise[:4] != b"\x28\xb5\x2f\xfd"
    with pytest.raises(LayerUnreadable, match="not a readable tar archive"):
        read(noise)
    with pytest.raises(LayerUnreadable, match="not a readable tar archive"):
        read(b"\x1f\x8b" + noise)  # gzip's magic, then noise
    with pytest.raises(LayerUnreadable, match="not a readable tar archive"):
        read(b"")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_a_truncated_layer_is_unreadable(compression):
    entries = DEBIAN_ROOT + [reg("var/cache/noise", random.Random(3).randbytes(256 * 1024))]
    data = layer(entries, compression)
    # (a plain tar cut in its trailing zero padding would still be whole: cut before it)
    for cut in (len(data) // 2, len(data) - 12 * 1024 if compression == "plain" else len(data) - 4,
                100):
        with pytest.raises(LayerUnreadable, match="not a readable tar archive"):
            read(data[:cut])


def test_more_entries_than_allowed_is_unreadable():
    entries = [reg(f"srv/{i}.txt", b"x") for i in range(5)]
    assert len(read(layer(entries), max_members=5).files) == 0
    with pytest.raises(LayerUnreadable) as caught:
        read(layer(entries + [reg("srv/5.txt", b"x")]), max_members=5)
    assert str(caught.value) == "the layer has more than 5 entries"


def test_a_corrupt_package_database_names_its_path():
    data = layer([reg("var/lib/dpkg/status", b"Package: libc6\nthis is no field\n")])
    with pytest.raises(DetectorError) as caught:
        read(data)
    assert str(caught.value) == "var/lib/dpkg/status: line 2: not a field"
    assert not isinstance(caught.value, LayerUnreadable)


def test_symlinks_and_hardlinks_are_never_followed():
    inventory = read(layer([
        reg("opt/status-copy", DPKG_STATUS),
        reg("opt/METADATA", WHEEL_METADATA),
        reg("usr/lib/os-release", OS_RELEASE),
        ("symlink", "etc/os-release", "../usr/lib/os-release"),
        ("symlink", "var/lib/dpkg/status", "/opt/status-copy"),
        ("hardlink", "usr/lib/python3/site-packages/evil-1.0.dist-info/METADATA", "opt/METADATA"),
        ("hardlink", "lib/apk/db/installed", "opt/status-copy"),
    ]))
    assert inventory.files == {}
    assert inventory.distros == {"usr/lib/os-release": BOOKWORM}


def test_an_inventory_survives_dumps_and_loads():
    inventory = read(layer(DEBIAN_ROOT + [reg("var/.wh.tmp", b""), reg("srv/.wh..wh..opq", b"")]))
    assert inventory.whiteouts == ["var/tmp"] and inventory.opaque == ["srv"]
    again = LayerInventory.loads(inventory.dumps())
    assert again == inventory
    assert again.files["var/lib/dpkg/status"][0].source_version is None
    assert LayerInventory.loads(LayerInventory().dumps()) == LayerInventory()


# -- merge ------------------------------------------------------------------------------------
def pkg(path: str, name: str, version: str = "1.0") -> Package:
    return Package("PyPI", name, version, f"pkg:pypi/{name}@{version}", path, PYTHON)


def inv(files: dict | None = None, distros: dict | None = None, whiteouts=(), opaque=()):
    return LayerInventory(dict(files or {}), dict(distros or {}), list(whiteouts), list(opaque))


SITE = "usr/lib/python3/site-packages"
FLASK = f"{SITE}/flask-2.0.dist-info/METADATA"
JINJA = f"{SITE}/jinja2-3.1.2.dist-info/METADATA"


def names(image: ImageInventory) -> list[tuple[str, str, str]]:
    return [(p.name, p.version, p.layer) for p in image.packages]


def test_an_upper_layers_file_replaces_the_lower_one():
    lower = inv({"var/lib/dpkg/status": [LIBSSL, LIBUUID]})
    newer = Package("Debian", "libssl3", "3.0.13-1~deb12u1", "pkg:deb/debian/libssl3",
                    "var/lib/dpkg/status", OS, "openssl")
    upper = inv({"var/lib/dpkg/status": [newer]})
    assert merge([("sha256:a", lower), ("sha256:b", upper)]).packages == [
        Package("Debian", "libssl3", "3.0.13-1~deb12u1", "pkg:deb/debian/libssl3",
                "var/lib/dpkg/status", OS, "openssl", layer="sha256:b")]


def test_a_whiteout_of_a_dist_info_directory_removes_that_package():
    lower = inv({FLASK: [pkg(FLASK, "flask")], JINJA: [pkg(JINJA, "jinja2")]})
    upper = inv(whiteouts=[f"{SITE}/jinja2-3.1.2.dist-info"])
    assert names(merge([("sha256:a", lower), ("sha256:b", upper)])) == [
        ("flask", "1.0", "sha256:a")]


def test_a_whiteout_of_a_parent_directory_removes_everything_under_it():
    sibling = "usr/lib/python3.11/site-packages/attrs-23.1.dist-info/METADATA"
    lower = inv({FLASK: [pkg(FLASK, "flask")], JINJA: [pkg(JINJA, "jinja2")],
                 sibling: [pkg(sibling, "attrs")]})
    upper = inv(whiteouts=["usr/lib/python3"])
    # "usr/lib/python3.11" merely starts with the same characters: it stays
    assert names(merge([("sha256:a", lower), ("sha256:b", upper)])) == [
        ("attrs", "1.0", "sha256:a")]


def test_a_whiteout_applies_to_lower_layers_only():
    lower = inv({FLASK: [pkg(FLASK, "flask", "1.0")]})
    upper = inv({FLASK: [pkg(FLASK, "flask", "2.0")]}, whiteouts=[f"{SITE}/flask-2.0.dist-info"])
    assert names(merge([("sha256:a", lower), ("sha256:b", upper)])) == [
        ("flask", "2.0", "sha256:b")]


def test_an_opaque_directory_hides_lower_entries_but_not_its_own_layers():
    outside = "opt/other/node_modules/a/package.json"
    egg = f"{SITE}/legacy-0.1.egg-info"  # a file right in the opaque directory
    lower = inv({FLASK: [pkg(FLASK, "flask")], JINJA: [pkg(JINJA, "jinja2")],
                 egg: [pkg(egg, "legacy")], outside: [pkg(outside, "a")]})
    own = f"{SITE}/click-8.1.dist-info/METADATA"
    upper = inv({own: [pkg(own, "click")]}, opaque=[SITE])
    assert names(merge([("sha256:a", lower), ("sha256:b", upper)])) == [
        ("a", "1.0", "sha256:a"), ("click", "1.0", "sha256:b")]


def test_an_opaque_root_hides_every_lower_entry():
    lower = inv({FLASK: [pkg(FLASK, "flask")]}, {"etc/os-release": BOOKWORM})
    upper = inv({JINJA: [pkg(JINJA, "jinja2")]}, opaque=[""])
    assert merge([("sha256:a", lower), ("sha256:b", upper)]) == ImageInventory(
        [Package("PyPI", "jinja2", "1.0", "pkg:pypi/jinja2@1.0", JINJA, PYTHON,
                 layer="sha256:b")], None)


def test_etc_os_release_is_preferred_over_usr_lib_os_release():
    bullseye = Distro("debian", "11", "Debian GNU/Linux 11 (bullseye)")
    lower = inv(distros={"etc/os-release": BOOKWORM})
    upper = inv(distros={"usr/lib/os-release": bullseye})
    assert merge([("sha256:a", lower), ("sha256:b", upper)]).distro == BOOKWORM
    assert merge([("sha256:a", upper), ("sha256:b", lower)]).distro == BOOKWORM
    assert merge([("sha256:a", upper)]).distro == bullseye
    removed = inv(whiteouts=["etc/os-release"])
    assert merge([("sha256:a", lower), ("sha256:b", upper), ("sha256:c", removed)]
                 ).distro == bullseye
    assert merge([("sha256:a", lower), ("sha256:b", inv(whiteouts=["etc"]))]).distro is None
    assert merge([]) == ImageInventory([], None)


def test_packages_carry_their_layers_digest_and_come_in_path_order():
    base = inv({"var/lib/dpkg/status": [LIBSSL, LIBUUID], NPM: [SEMVER]})
    app = inv({JINJA: [pkg(JINJA, "jinja2")], "app/node_modules/x/package.json": [
        pkg("app/node_modules/x/package.json", "x")]})
    image = merge([("sha256:base", base), ("sha256:app", app)])
    assert [(p.path, p.name, p.layer) for p in image.packages] == [
        ("app/node_modules/x/package.json", "x", "sha256:app"),
        (NPM, "semver", "sha256:base"),
        (JINJA, "jinja2", "sha256:app"),
        ("var/lib/dpkg/status", "libssl3", "sha256:base"),
        ("var/lib/dpkg/status", "libuuid1", "sha256:base"),
    ]
    assert base.files["var/lib/dpkg/status"][0].layer == ""  # the layer's own are untouched


def test_layers_read_from_tar_streams_merge_into_an_image():
    base = read(layer(DEBIAN_ROOT))
    app = read(layer([reg(f"{WHEEL.rsplit('/', 2)[0]}/.wh.requests-2.31.0.dist-info", b""),
                      reg("etc/os-release", OS_RELEASE.replace(b'"12"', b'"12.5"'))], "zstd"))
    image = merge([("sha256:base", base), ("sha256:app", app)])
    assert [(p.name, p.layer) for p in image.packages] == [
        ("semver", "sha256:base"), ("libssl3", "sha256:base"), ("libuuid1", "sha256:base")]
    assert image.distro == Distro("debian", "12.5", "Debian GNU/Linux 12 (bookworm)")
