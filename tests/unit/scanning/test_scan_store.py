"""Advisories imported into a migrated SQLite database (berth.scanning.vulndb.store), an
image's packages matched against them (berth.scanning.matcher), and a scan's outcome kept
across rescans (berth.scanning.services.record) for an image pushed into a Registry."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from berth.registry.registry import Registry
from tests.support.repositories import make_repository, pushes_create
from berth.scanning import services
from berth.scanning.configuration import BASIC, ENHANCED
from berth.scanning.findings import Finding, advisory_fields
from berth.scanning.inventory.image import ImageInventory
from berth.scanning.matcher import match_inventory
from berth.scanning.packages import OS, PYTHON, Distro, Package
from berth.scanning.scanner import DONE, Outcome
from berth.scanning.vulndb import store
from berth.scanning.vulndb.osv import InvalidAdvisory
from berth.scanning.vulndb.severity import Severity
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import scanning as scan_rows
from berth.storage.metadata import vulndb as vuln_rows
from tests.support.registry_images import push_image

NOW = 1_750_000_000.0
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def advisory(vuln_id: str, ecosystem: str, name: str, events: list[dict],
             modified: str = "2024-02-01T00:00:00Z", **extra) -> dict:
    return {"id": vuln_id, "modified": modified, "published": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}], **extra}


OPENSSL = advisory("DSA-5678-1", "Debian:12", "openssl",
                   [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}],
                   aliases=["CVE-2024-0727"], severity=[{"type": "CVSS_V3", "score": CRITICAL}])
UTIL_LINUX = advisory("DLA-0001-1", "Debian:12", "util-linux",
                      [{"introduced": "2.38.1-5"}, {"last_affected": "2.38.1-5"}],
                      modified="2024-03-05T12:00:00Z")
OPENSSL_11 = advisory("DSA-0011-1", "Debian:11", "openssl", [{"introduced": "0"}])
JINJA = advisory("GHSA-h5c8-rqwp-cp95", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.3"}],
                 database_specific={"severity": "MODERATE"})
REQUESTS = advisory("GHSA-j8r2-6x86-q33q", "PyPI", "requests",
                    [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}])
WITHDRAWN = advisory("PYSEC-2099-1", "PyPI", "jinja2", [{"introduced": "0"}],
                     withdrawn="2024-02-02T00:00:00Z")


def write_source(folder: Path, *records: dict, names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for record, name in zip(records, names or [r["id"] for r in records]):
        (folder / f"{name}.json").write_text(json.dumps(record))
    return folder


def stored(db) -> dict[str, dict]:
    with db.read() as tx:
        ids = [r.id for r in tx.all(select(vuln_rows.vulnerabilities.c.id))]
        return {i: json.loads(zlib.decompress(r)) for i, r in vuln_rows.records(tx, ids).items()}


def package_rows(db) -> list[tuple]:
    P = vuln_rows.vulnerable_packages
    with db.read() as tx:
        return [tuple(r) for r in tx.all(select(P.c.vuln_id, P.c.position, P.c.ecosystem, P.c.name)
                                         .order_by(P.c.vuln_id, P.c.position))]


def source_rows(db) -> list[tuple]:
    with db.read() as tx:
        return [(r.name, r.updated_at, r.imported_at, r.records) for r in vuln_rows.sources(tx)]


# -- import_source ----------------------------------------------------------------------------
def test_a_folder_is_imported_then_imported_again_unchanged(sqlite_db, tmp_path):
    folder = write_source(tmp_path / "Debian", OPENSSL, UTIL_LINUX, OPENSSL_11)
    report = store.import_source(sqlite_db, folder, now=NOW)
    march = 1709640000.0  # UTIL_LINUX's modified, the newest
    assert report == store.SourceReport("Debian", 3, 3, march)
    assert stored(sqlite_db) == {r["id"]: r for r in (OPENSSL, UTIL_LINUX, OPENSSL_11)}
    assert package_rows(sqlite_db) == [("DLA-0001-1", 0, "Debian:12", "util-linux"),
                                       ("DSA-0011-1", 0, "Debian:11", "openssl"),
                                       ("DSA-5678-1", 0, "Debian:12", "openssl")]
    assert source_rows(sqlite_db) == [("Debian", march, NOW, 3)]

    assert store.import_source(sqlite_db, folder, now=NOW + 60) == store.SourceReport(
        "Debian", 3, 0, march)
    assert source_rows(sqlite_db) == [("Debian", march, NOW + 60, 3)]
    assert len(package_rows(sqlite_db)) == 3


def test_an_edited_record_is_the_one_change(sqlite_db, tmp_path):
    folder = write_source(tmp_path / "Debian", OPENSSL, UTIL_LINUX)
    store.import_source(sqlite_db, folder, now=NOW)
    edited = {**OPENSSL, "modified": "2024-04-01T00:00:00Z", "affected": [
        *OPENSSL["affected"], {"package": {"ecosystem": "Debian:13", "name": "openssl"}}]}
    write_source(folder, edited)
    assert store.import_source(sqlite_db, folder, now=NOW) == store.SourceReport(
        "Debian", 2, 1, 1711929600.0)
    assert stored(sqlite_db)["DSA-5678-1"] == edited
    assert package_rows(sqlite_db) == [("DLA-0001-1", 0, "Debian:12", "util-linux"),
                                       ("DSA-5678-1", 0, "Debian:12", "openssl"),
                                       ("DSA-5678-1", 1, "Debian:13", "openssl")]


def test_a_repeated_id_is_stored_once_the_last_one_read(sqlite_db, tmp_path):
    second = {**JINJA, "summary": "the later file"}
    folder = write_source(tmp_path / "PyPI", JINJA, second, names=["a", "b"])
    assert store.import_source(sqlite_db, folder, now=NOW) == store.SourceReport(
        "PyPI", 2, 1, 1706745600.0)
    assert stored(sqlite_db) == {JINJA["id"]: second}
    assert package_rows(sqlite_db) == [(JINJA["id"], 0, "PyPI", "jinja2")]


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]"])
def test_a_bad_file_changes_nothing(sqlite_db, tmp_path, monkeypatch, bad):
    store.import_source(sqlite_db, write_source(tmp_path / "Debian", OPENSSL), now=NOW)
    before = (stored(sqlite_db), package_rows(sqlite_db), source_rows(sqlite_db))
    monkeypatch.setattr(store, "BATCH", 1)  # what comes before the bad file is written first
    folder = write_source(tmp_path / "PyPI", {**OPENSSL, "summary": "edited"}, JINJA,
                          names=["a", "b"])
    (folder / "c.json").write_bytes(bad)
    with pytest.raises(InvalidAdvisory) as caught:
        store.import_source(sqlite_db, folder, now=NOW + 60)
    assert caught.value.source == str(folder / "c.json")
    assert (stored(sqlite_db), package_rows(sqlite_db), source_rows(sqlite_db)) == before
    assert stored(sqlite_db)["DSA-5678-1"] == OPENSSL


@pytest.mark.parametrize("path,name", [
    ("/osv/PyPI-all.zip", "PyPI"), ("crates.io-all.zip", "crates.io"), ("mine.zip", "mine"),
    ("/osv/GHSA-h5c8-rqwp-cp95.json", "GHSA-h5c8-rqwp-cp95"), ("/osv/Debian", "Debian"),
    ("notes.txt", "notes.txt"), ("Debian:12-all.zip", "Debian:12")])
def test_source_name(path, name):
    assert store.source_name(Path(path)) == name


# -- match_inventory --------------------------------------------------------------------------
def deb(name: str, version: str, source: str | None = None, source_version: str | None = None):
    return Package("Debian", name, version, f"pkg:deb/debian/{name}@{version}",
                   "var/lib/dpkg/status", OS, source, source_version, "amd64")


def wheel(name: str, version: str) -> Package:
    return Package("PyPI", name, version, f"pkg:pypi/{name.lower()}@{version}",
                   f"site-packages/{name}-{version}.dist-info/METADATA", PYTHON)


BOOKWORM = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
LIBSSL = deb("libssl3", "3.0.11-1~deb12u2", "openssl")
LIBUUID = deb("libuuid1", "2.38.1-5+b1", "util-linux", "2.38.1-5")
MOUNT = deb("mount", "2.38.1-5+deb12u1", "util-linux")       # past last_affected
OPENSSL_BIN = deb("openssl", "3.0.13-1~deb12u1")              # fixed
JINJA2 = wheel("Jinja2", "3.1.2")
REQUESTS_OK = wheel("requests", "2.31.0")                    # fixed
IMAGE = ImageInventory([LIBSSL, LIBUUID, MOUNT, OPENSSL_BIN, JINJA2, REQUESTS_OK], BOOKWORM)


@pytest.fixture
def advisories(sqlite_db, tmp_path):
    store.import_source(sqlite_db, write_source(tmp_path / "Debian", OPENSSL, UTIL_LINUX,
                                                OPENSSL_11), now=NOW)
    store.import_source(sqlite_db, write_source(tmp_path / "PyPI", JINJA, REQUESTS, WITHDRAWN),
                        now=NOW)
    return sqlite_db


def matched(db, inventory: ImageInventory, scan_type: str) -> list[tuple]:
    with db.read() as tx:
        return sorted((f.vuln_id, f.package.name, f.fixed_in, f.severity.label, f.platform)
                      for f in match_inventory(tx, inventory, scan_type))


def test_basic_scans_match_os_packages_by_source_name_and_version(advisories):
    assert matched(advisories, IMAGE, BASIC) == [
        ("DLA-0001-1", "libuuid1", None, "UNDEFINED", ""),
        ("DSA-5678-1", "libssl3", "3.0.13-1~deb12u1", "CRITICAL", "")]
    with advisories.read() as tx:
        (finding,) = [f for f in match_inventory(tx, IMAGE, BASIC) if f.package == LIBSSL]
    assert finding.severity == Severity("CRITICAL", 9.8, CRITICAL, "3.1")
    assert finding.advisory == advisory_fields(OPENSSL["id"], OPENSSL)
    assert finding.advisory["name"] == "CVE-2024-0727"


def test_enhanced_scans_also_match_language_packages_by_normalized_name(advisories):
    assert matched(advisories, IMAGE, ENHANCED) == [
        ("DLA-0001-1", "libuuid1", None, "UNDEFINED", ""),
        ("DSA-5678-1", "libssl3", "3.0.13-1~deb12u1", "CRITICAL", ""),
        ("GHSA-h5c8-rqwp-cp95", "Jinja2", "3.1.3", "MEDIUM", "")]  # not the withdrawn one


def test_os_packages_need_the_advisories_release(advisories):
    bullseye = ImageInventory(IMAGE.packages, Distro("debian", "11", ""))
    assert matched(advisories, bullseye, BASIC) == [
        ("DSA-0011-1", "libssl3", None, "UNDEFINED", ""),
        ("DSA-0011-1", "openssl", None, "UNDEFINED", "")]
    assert matched(advisories, ImageInventory(IMAGE.packages, None), ENHANCED) == [
        ("GHSA-h5c8-rqwp-cp95", "Jinja2", "3.1.3", "MEDIUM", "")]


def test_wolfi_and_photon_images_match_their_distributions_advisories(sqlite_db, tmp_path):
    """Rolling Wolfi is one ecosystem without a release, its apk versions ordered as apk does;
    Photon OS names its release whole, its versions ordered as rpm does."""
    store.import_source(sqlite_db, write_source(
        tmp_path / "Wolfi",
        advisory("CGA-0001", "Wolfi", "openssl", [{"introduced": "0"}, {"fixed": "3.3.2-r1"}]),
        advisory("CGA-0002", "Wolfi", "zlib", [{"introduced": "0"}, {"fixed": "1.3.1-r0"}]),
        advisory("PHSA-2024-5.0-0001", "Photon OS:5.0", "curl",
                 [{"introduced": "0"}, {"fixed": "8.9.1-1.ph5"}]),
        advisory("PHSA-2024-4.0-0001", "Photon OS:4.0", "curl",
                 [{"introduced": "0"}, {"fixed": "9.0.0-1.ph4"}])), now=NOW)
    libssl = Package("Alpine", "libssl3", "3.3.2-r0", "pkg:apk/alpine/libssl3@3.3.2-r0",
                     "lib/apk/db/installed", OS, "openssl")
    zlib = Package("Alpine", "zlib", "1.3.1-r10", "pkg:apk/alpine/zlib@1.3.1-r10",
                   "lib/apk/db/installed", OS)
    wolfi = ImageInventory([libssl, zlib], Distro("wolfi", "20230201", "Wolfi"))
    assert matched(sqlite_db, wolfi, BASIC) == [("CGA-0001", "libssl3", "3.3.2-r1",
                                                 "UNDEFINED", "")]
    curl = Package("RPM", "curl", "8.5.0-3.ph5", "pkg:rpm/curl@8.5.0-3.ph5",
                   "var/lib/rpm/rpmdb.sqlite", OS)
    photon = ImageInventory([curl], Distro("photon", "5.0", "VMware Photon OS/Linux"))
    assert matched(sqlite_db, photon, BASIC) == [("PHSA-2024-5.0-0001", "curl", "8.9.1-1.ph5",
                                                  "UNDEFINED", "")]


def test_platform_is_passed_on(advisories):
    with advisories.read() as tx:
        found = match_inventory(tx, ImageInventory([JINJA2], None), ENHANCED, "linux/arm64")
    assert [(f.vuln_id, f.platform) for f in found] == [("GHSA-h5c8-rqwp-cp95", "linux/arm64")]


# -- services.record --------------------------------------------------------------------------
REPO = "team/app"


@pytest.fixture
def image(sqlite_db, registry_id, tmp_path):
    """(repository id, digest) of an image pushed into ``sqlite_db``'s registry."""
    reg = Registry.create(sqlite_db, FilesystemDriver(tmp_path / "blobs"), 4 << 20,
                          registry_id=registry_id)
    pushes_create(reg.db, reg.registry_id)
    with sqlite_db.write() as tx:
        repo_id = make_repository(tx, registry_id, REPO)
    digest = str(push_image(reg, REPO, "v1", b"a layer"))
    yield repo_id, digest
    reg.driver.close()


def finding(vuln_id: str, package: Package, label: str, fixed_in: str | None = None):
    return Finding(vuln_id, package, fixed_in, Severity(label), "",
                   advisory_fields(vuln_id, {"id": vuln_id}))


A = finding("CVE-2024-0001", LIBSSL, "HIGH")
B = finding("CVE-2024-0002", LIBUUID, "MEDIUM")
C = finding("CVE-2024-0003", JINJA2, "MEDIUM")


def start(db, image, scan_type: str, now: float = NOW - 10) -> None:
    with db.write() as tx:
        scan_rows.start(tx, *image, scan_type, scan_type == ENHANCED, now)


def record(db, registry_id, image, scan_type, findings, now, **options) -> bool:
    return services.record(db, registry_id, image[0], REPO, image[1], scan_type,
                           Outcome("COMPLETE", DONE, list(findings)), now, **options)


def finding_rows(db, image) -> dict[str, tuple]:
    with db.read() as tx:
        return {json.loads(r.detail)["id"]: (r.status, r.severity, r.first_observed_at,
                                             r.last_observed_at, r.updated_at)
                for r in scan_rows.page(tx, *image, "", 100)}


def scan_row(db, image) -> tuple:
    with db.read() as tx:
        row = scan_rows.scan(tx, *image)
    return row.status, row.description, row.completed_at, json.loads(row.counts)


def test_continuous_scans_close_what_is_no_longer_found(sqlite_db, registry_id, image):
    start(sqlite_db, image, ENHANCED)
    assert record(sqlite_db, registry_id, image, ENHANCED, [A, B], NOW) is True
    assert scan_row(sqlite_db, image) == ("ACTIVE", services.CONTINUOUS_NOTE, NOW,
                                          {"HIGH": 1, "MEDIUM": 1})
    assert record(sqlite_db, registry_id, image, ENHANCED, [B, C], NOW + 100) is True
    assert finding_rows(sqlite_db, image) == {
        A.vuln_id: ("CLOSED", "HIGH", NOW, NOW, NOW + 100),
        # observed again, unchanged: updatedAt stays when it last changed
        B.vuln_id: ("ACTIVE", "MEDIUM", NOW, NOW + 100, NOW),
        C.vuln_id: ("ACTIVE", "MEDIUM", NOW + 100, NOW + 100, NOW + 100)}
    assert scan_row(sqlite_db, image) == ("ACTIVE", services.CONTINUOUS_NOTE, NOW + 100,
                                          {"MEDIUM": 2})  # the CLOSED one is not counted
    # found again: ACTIVE, first observed when it was first found
    record(sqlite_db, registry_id, image, ENHANCED, [A, B, C], NOW + 200)
    assert finding_rows(sqlite_db, image)[A.vuln_id] == ("ACTIVE", "HIGH", NOW, NOW + 200,
                                                         NOW + 200)
    assert scan_row(sqlite_db, image)[3] == {"HIGH": 1, "MEDIUM": 2}


def test_basic_scans_drop_what_is_no_longer_found(sqlite_db, registry_id, image):
    start(sqlite_db, image, BASIC)
    record(sqlite_db, registry_id, image, BASIC, [A, B], NOW)
    assert scan_row(sqlite_db, image) == ("COMPLETE", DONE, NOW, {"HIGH": 1, "MEDIUM": 1})
    assert record(sqlite_db, registry_id, image, BASIC, [B], NOW + 100) is True
    assert finding_rows(sqlite_db, image) == {
        B.vuln_id: ("ACTIVE", "MEDIUM", NOW, NOW + 100, NOW)}
    assert scan_row(sqlite_db, image) == ("COMPLETE", DONE, NOW + 100, {"MEDIUM": 1})
    record(sqlite_db, registry_id, image, BASIC, [], NOW + 200)
    assert finding_rows(sqlite_db, image) == {}
    assert scan_row(sqlite_db, image) == ("COMPLETE", DONE, NOW + 200, {})


def test_the_same_findings_again_write_nothing_when_only_changes_count(sqlite_db, registry_id,
                                                                        image):
    start(sqlite_db, image, ENHANCED)
    record(sqlite_db, registry_id, image, ENHANCED, [A, B], NOW)
    before = (finding_rows(sqlite_db, image), scan_row(sqlite_db, image))
    assert record(sqlite_db, registry_id, image, ENHANCED, [B, A], NOW + 100,
                  only_if_changed=True) is False
    assert (finding_rows(sqlite_db, image), scan_row(sqlite_db, image)) == before
    assert finding_rows(sqlite_db, image)[A.vuln_id][3] == NOW  # last_observed_at
    # one fewer is a change
    assert record(sqlite_db, registry_id, image, ENHANCED, [B], NOW + 200,
                  only_if_changed=True) is True
    assert finding_rows(sqlite_db, image)[A.vuln_id][0] == "CLOSED"


def test_a_rematch_keeps_a_findings_new_severity_and_fix(sqlite_db, registry_id, image):
    # The advisory behind a finding changed (rated higher, a fix published): the rematch the
    # import starts finds the same keys, but what they say is new.
    start(sqlite_db, image, ENHANCED)
    record(sqlite_db, registry_id, image, ENHANCED, [A], NOW)
    rated = finding(A.vuln_id, A.package, "CRITICAL", "3.0.13-1~deb12u1")
    assert rated.key == A.key
    assert record(sqlite_db, registry_id, image, ENHANCED, [rated], NOW + 100,
                  only_if_changed=True) is True
    assert finding_rows(sqlite_db, image)[A.vuln_id][:2] == ("ACTIVE", "CRITICAL")
    assert scan_row(sqlite_db, image)[3] == {"CRITICAL": 1}


def test_a_failed_rescan_does_not_close_what_it_could_not_look_for(sqlite_db, registry_id,
                                                                   image):
    start(sqlite_db, image, ENHANCED)
    record(sqlite_db, registry_id, image, ENHANCED, [A], NOW)
    services.record(sqlite_db, registry_id, image[0], REPO, image[1], ENHANCED,
                    Outcome("FAILED", "ScanFailed: layer sha256:x: truncated"), NOW + 100)
    assert finding_rows(sqlite_db, image)[A.vuln_id][0] == "ACTIVE"


def test_a_scan_of_an_image_never_started_records_nothing(sqlite_db, registry_id, image):
    assert record(sqlite_db, registry_id, image, BASIC, [A], NOW) is False
    with sqlite_db.read() as tx:
        assert scan_rows.scan(tx, *image) is None
        assert tx.scalar(select(func.count().label("n")).select_from(scan_rows.scan_findings)) == 0


def test_inventories_of_layers_no_repository_links_are_forgotten(sqlite_db):
    from berth.storage.metadata import scanning as scan_rows
    from berth.storage.metadata.schema import repository_blobs
    from berth.storage.metadata import repositories as repo_rows

    with sqlite_db.write() as tx:
        repo_rows.create(tx, 1, "team/app", "")
        repo_id = repo_rows.get_id(tx, 1, "team/app")
        tx.execute(repository_blobs.insert(), {"repository_id": repo_id, "digest": "sha256:aa",
                                               "size": 1, "created_at": 0.0})
        for digest, at in (("sha256:aa", 10.0), ("sha256:bb", 10.0), ("sha256:cc", 500.0)):
            scan_rows.put_layer(tx, digest, at, b"x", None, 1)
    with sqlite_db.write() as tx:
        assert scan_rows.drop_orphaned_layers(tx, before=100.0, limit=10) == 1
    with sqlite_db.read() as tx:
        assert set(scan_rows.layers(tx, ["sha256:aa", "sha256:bb", "sha256:cc"])) == {
            "sha256:aa", "sha256:cc"}  # linked; made too recently to judge
