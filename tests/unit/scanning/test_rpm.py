"""RPM's SQLite database as rpm itself writes it (Debian's rpm 4.18: rpmbuild makes packages,
``rpm -i --justdb`` records them), and the older Berkeley DB ``Packages`` database holding the
same header blobs, as Berkeley DB's own db_load writes it: every package with its epoch,
version, release, arch and source package; a WAL-mode database read from its bytes; garbage
refused with a reason."""
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from berth.scanning.inventory import rpm
from berth.scanning.inventory.detectors import detector_for
from berth.scanning.packages import DetectorError

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: a package for berth's scanner tests
License: MIT
BuildArch: noarch
%description
test
%files
"""
SQLITE = ("--define", "_db_backend sqlite")


def _build(tmp: Path, name: str, version: str, release: str, epoch: int | None) -> Path:
    spec = tmp / f"{name}.spec"
    spec.write_text(SPEC.format(name=name, version=version, release=release,
                                epoch=f"Epoch: {epoch}\n" if epoch else ""))
    subprocess.run(["rpmbuild", "--define", f"_topdir {tmp / 'build'}", "-bb", str(spec)],
                   check=True, capture_output=True)
    return next((tmp / "build" / "RPMS" / "noarch").glob(f"{name}-{version}-*.rpm"))


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory) -> bytes:
    assert shutil.which("rpm") and shutil.which("rpmbuild"), "rpm is one of the test tools"
    tmp = tmp_path_factory.mktemp("rpm")
    packages = [_build(tmp, "openssl-libs", "3.0.7", "24.el9", 1),
                _build(tmp, "bash", "5.1.8", "9.el9", None)]
    db = tmp / "db"
    db.mkdir()
    subprocess.run(["rpm", *SQLITE, "--dbpath", str(db), "--initdb"], check=True)
    subprocess.run(["rpm", *SQLITE, "--dbpath", str(db), "-i", "--justdb", "--nodeps",
                    *map(str, packages)], check=True, capture_output=True)
    return (db / "rpmdb.sqlite").read_bytes()


def test_installed_packages_with_epoch_version_release_and_arch(rpmdb):
    found = {p.name: p for p in rpm.parse("var/lib/rpm/rpmdb.sqlite", rpmdb)}
    assert set(found) == {"openssl-libs", "bash"}
    assert found["openssl-libs"].version == "1:3.0.7-24.el9"
    assert found["openssl-libs"].purl == "pkg:rpm/openssl-libs@3.0.7-24.el9?arch=noarch&epoch=1"
    assert found["bash"].version == "5.1.8-9.el9" and found["bash"].arch == "noarch"
    assert all(p.manager == "OS" and p.source_name is None for p in found.values())


def test_the_detector_wants_both_rpmdb_locations():
    for path in rpm.PATHS:
        assert detector_for(path, False).name == "rpm"
    assert detector_for("home/user/rpmdb.sqlite", True) is None


def test_a_wal_mode_database_is_read_from_its_bytes(rpmdb):
    assert rpmdb[18:20] in (b"\x01\x01", b"\x02\x02")
    wal = rpmdb[:18] + b"\x02\x02" + rpmdb[20:]
    assert len(rpm.parse("var/lib/rpm/rpmdb.sqlite", wal)) == 2


def test_source_rpm_names():
    assert rpm._source_name("openssl-3.0.7-24.el9.src.rpm") == "openssl"
    assert rpm._source_name("nonsense") is None


@pytest.mark.parametrize("data", [b"", b"not sqlite at all" * 100, b"SQLite format 3\0" + b"\0" * 200])
def test_garbage_is_refused_with_a_reason(data):
    with pytest.raises(DetectorError, match="rpm SQLite"):
        rpm.parse("var/lib/rpm/rpmdb.sqlite", data)


@pytest.mark.parametrize("blob", [b"", b"\0\0\0\x05", b"\x7f\xff\xff\xff\0\0\0\0",
                                  b"\0\0\0\x01\0\0\0\x10" + b"\0" * 8])
def test_broken_header_blobs_give_nothing(blob):
    assert rpm.header(blob) == {}


def _berkeley_db(tmp: Path, blobs: list[bytes]) -> bytes:
    """A hash database of record number -> header blob, written by db_load (db5.3-util)."""
    assert shutil.which("db5.3_load"), "db5.3-util is one of the test tools"
    dump = tmp / "dump.txt"
    with dump.open("w") as out:
        for number, blob in enumerate(blobs, 1):
            for value in (number.to_bytes(4, "little"), blob):
                out.write("".join(f"\\{b:02x}" for b in value) + "\n")
    target = tmp / "Packages"
    subprocess.run(["db5.3_load", "-T", "-t", "hash", "-f", str(dump), str(target)],
                   check=True, capture_output=True)
    return target.read_bytes()


def test_the_berkeley_db_format_holds_the_same_packages(rpmdb, tmp_path):
    path = tmp_path / "rpmdb.sqlite"
    path.write_bytes(rpmdb)
    with sqlite3.connect(path) as db:
        blobs = [row[0] for row in db.execute("SELECT blob FROM Packages")]
    data = _berkeley_db(tmp_path, blobs * 40)  # many pages, each header in overflow pages
    found = rpm.parse("var/lib/rpm/Packages", data)
    assert len(found) == 80
    assert {(p.name, p.version) for p in found} == {
        (p.name, p.version) for p in rpm.parse("var/lib/rpm/rpmdb.sqlite", rpmdb)}
    assert detector_for("var/lib/rpm/Packages", False).name == "rpm"
    assert detector_for("var/lib/apt/lists/deb.debian.org_Packages", False) is None


@pytest.mark.parametrize("data", [b"", b"\0" * 4096, b"\x00" * 12 + b"\x61\x15\x06\x00" + b"\0" * 500])
def test_a_damaged_berkeley_db_is_refused_with_a_reason(data):
    with pytest.raises(DetectorError, match="Berkeley DB"):
        rpm.parse("var/lib/rpm/Packages", data)


def test_damaged_pages_never_raise_anything_but_a_refusal(rpmdb, tmp_path):
    """Bytes of a real Berkeley DB database overwritten here and there (a loop in an overflow
    chain, offsets past the page, absurd lengths): the reader refuses or skips, nothing else."""
    import random

    path = tmp_path / "rpmdb.sqlite"
    path.write_bytes(rpmdb)
    with sqlite3.connect(path) as db:
        blobs = [row[0] for row in db.execute("SELECT blob FROM Packages")]
    data = _berkeley_db(tmp_path, blobs * 5)
    rng = random.Random(7)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            found = rpm.parse("var/lib/rpm/Packages", bytes(damaged))
        except DetectorError:
            continue
        assert len(found) <= 10
