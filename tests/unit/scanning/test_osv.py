"""OSV advisories (berth.scanning.vulndb): reading the bulk files, matching versions against
real PyPI, Go and crates.io records from /work/shared/vulndb and against small records of
our own for ecosystems without a feed there, and severities."""
import json
import zipfile
from pathlib import Path

import pytest
from univers.versions import GolangVersion, PypiVersion, SemverVersion

from berth.scanning.vulndb.matching import Match, match, version_class
from berth.scanning.vulndb.osv import (AffectedEntry, InvalidAdvisory, base_ecosystem, entries,
                                       normalize_name, read_records)
from berth.scanning.vulndb.severity import Severity, severity_of

VULNDB = Path("/work/shared/vulndb")


def real(ecosystem: str, vuln_id: str) -> dict:
    with zipfile.ZipFile(VULNDB / f"{ecosystem}-all.zip") as archive:
        return json.loads(archive.read(f"{vuln_id}.json"))


def only_affected(record: dict) -> dict:
    (entry,) = entries(record)
    return entry.affected


def ranges(*events_lists, kind="ECOSYSTEM") -> dict:
    return {"ranges": [{"type": kind, "events": events} for events in events_lists]}


# Reading

def test_reading_the_pypi_zip_yields_one_record_per_json_member():
    with zipfile.ZipFile(VULNDB / "PyPI-all.zip") as archive:
        members = [n for n in archive.namelist() if n.endswith(".json")]
    records = read_records(VULNDB / "PyPI-all.zip")
    assert not isinstance(records, list)  # a generator: records are parsed as consumed
    ids = [record["id"] for record in records]
    assert len(ids) == len(members) == 2661
    assert sorted(f"{i}.json" for i in ids) == sorted(members)


def test_reading_a_file_and_a_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "X-1.json").write_text(json.dumps({"id": "X-1"}))
    (tmp_path / "a" / "b" / "X-2.json").write_text(json.dumps({"id": "X-2"}))
    (tmp_path / "a" / "notes.txt").write_text("not an advisory")
    assert [r["id"] for r in read_records(tmp_path / "a")] == ["X-1", "X-2"]
    assert [r["id"] for r in read_records(tmp_path / "a" / "b" / "X-2.json")] == ["X-2"]


@pytest.mark.parametrize("body, reason", [(b"{not json", "not valid JSON"),
                                          (b"[1, 2]", "not a JSON object but list")])
def test_a_broken_zip_member_names_itself(tmp_path, body, reason):
    path = tmp_path / "PyPI-all.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("GOOD-1.json", json.dumps({"id": "GOOD-1"}))
        archive.writestr("BAD-1.json", body)
    records = read_records(path)
    assert next(records)["id"] == "GOOD-1"  # what precedes the bad member is still read
    with pytest.raises(InvalidAdvisory) as caught:
        next(records)
    assert caught.value.source == "BAD-1.json"
    assert caught.value.reason.startswith(reason)
    assert isinstance(caught.value, ValueError)


def test_a_broken_json_file_and_a_broken_zip(tmp_path):
    (tmp_path / "X-1.json").write_text('"a string"')
    with pytest.raises(InvalidAdvisory, match="not a JSON object but str"):
        list(read_records(tmp_path / "X-1.json"))
    (tmp_path / "Go-all.zip").write_bytes(b"PK not really")
    with pytest.raises(InvalidAdvisory, match="not a zip archive"):
        list(read_records(tmp_path / "Go-all.zip"))


# Entries and names

def test_entries_of_a_real_record():
    record = real("PyPI", "PYSEC-2018-28")
    (entry,) = entries(record)
    assert (entry.vuln_id, entry.ecosystem, entry.name) == ("PYSEC-2018-28", "PyPI", "requests")
    assert entry.affected is record["affected"][0]
    assert entry == AffectedEntry("PYSEC-2018-28", "PyPI", "requests", record["affected"][0])
    assert len({entry, AffectedEntry(*entry.__dict__.values())}) == 1  # hashable


def test_entries_normalize_pypi_names_from_a_real_record():
    assert [e.name for e in entries(real("PyPI", "PYSEC-2020-341"))] == ["jw-util"]


def test_withdrawn_records_have_no_entries():
    record = real("PyPI", "PYSEC-2023-73")  # redis, withdrawn 2023-06-06
    assert record["withdrawn"] == "2023-06-06T10:37:00Z"
    assert entries(record) == []
    assert len(entries({**record, "withdrawn": None})) == 1


def test_entries_skip_objects_without_a_package():
    record = {"id": "OSV-1", "affected": [
        {"ranges": [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "0"}]}]},
        {"package": {"ecosystem": "npm"}},
        {"package": {"name": "lodash"}},
        {"package": {"ecosystem": "Debian:12", "name": "openssl"}},
        "not an object",
    ]}
    assert [(e.ecosystem, e.name) for e in entries(record)] == [("Debian:12", "openssl")]


@pytest.mark.parametrize("ecosystem, name, expected", [
    ("PyPI", "Django", "django"),
    ("PyPI", "zope.interface", "zope-interface"),
    ("PyPI", "Foo__Bar-._baz", "foo-bar-baz"),
    ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
    ("npm", "@babel/core", "@babel/core"),
    ("crates.io", "tokio_util", "tokio_util"),
])
def test_normalize_name(ecosystem, name, expected):
    assert normalize_name(ecosystem, name) == expected


def test_base_ecosystem():
    assert base_ecosystem("Debian:12") == "Debian"
    assert base_ecosystem("Alpine:v3.20") == "Alpine"
    assert base_ecosystem("Maven:https://maven.google.com") == "Maven"
    assert base_ecosystem("crates.io") == "crates.io"


def test_version_classes():
    assert version_class("PyPI") is PypiVersion
    assert version_class("Go") is GolangVersion
    assert version_class("crates.io") is version_class("npm") is SemverVersion
    assert version_class("Debian:12").__name__ == "DebianVersion"
    assert version_class("Alpine:v3.20").__name__ == "AlpineLinuxVersion"
    assert version_class("Rocky Linux:9").__name__ == "RpmVersion"
    assert version_class("Wolfi") is version_class("Chainguard") is version_class("Alpine:v3.20")
    for rpm_based in ("Photon OS:5.0", "Mageia:9", "openSUSE:Leap 15.5",
                      "SUSE:Linux Enterprise Server 15 SP5"):
        assert version_class(rpm_based) is version_class("Rocky Linux:9")
    assert version_class("Hackage") is None


# Matching real records

@pytest.mark.parametrize("version, expected", [
    ("2.19.1", Match("2.20.0")), ("0.0.1", Match("2.20.0")), ("2.20.0rc1", Match("2.20.0")),
    ("2.20.0", None), ("2.31.0", None),
])
def test_requests_cve_2018_18074(version, expected):
    record = real("PyPI", "PYSEC-2018-28")
    assert "GHSA-x84v-xcm2-53pg" in record["aliases"]
    assert match("PyPI", version, only_affected(record)) == expected


@pytest.mark.parametrize("version, expected", [
    # Events listed newest branch first: 5.1/5.1.1, 5.0/5.0.9, 4.2/4.2.16.
    ("4.1.13", None), ("4.2", Match("4.2.16")), ("4.2.15", Match("4.2.16")),
    ("4.2.16", None), ("5.0.8", Match("5.0.9")), ("5.0.9", None), ("5.1", Match("5.1.1")),
    ("5.1.0", Match("5.1.1")), ("5.1.1", None), ("5.2", None),
])
def test_django_cve_2024_45230_unsorted_events(version, expected):
    affected = only_affected(real("PyPI", "PYSEC-2024-102"))
    assert match("PyPI", version, affected) == expected


@pytest.mark.parametrize("version, expected", [
    ("1.11.0", Match(None)), ("1.4.34", Match(None)), ("1.11.1", None), ("2.0", None)])
def test_py_last_affected_is_inclusive(version, expected):
    affected = only_affected(real("PyPI", "PYSEC-2022-42969"))
    assert match("PyPI", version, affected) == expected


def test_an_unparsable_version_matches_only_through_the_versions_list():
    affected = only_affected(real("PyPI", "PYSEC-2019-106"))  # nltk, fixed in 3.4.5
    assert match("PyPI", "2.0.1rc2-git", affected) == Match(None)  # listed
    assert match("PyPI", "3.4-git", affected) is None  # neither listed nor parsable
    assert match("PyPI", "3.4", affected) == Match("3.4.5")


@pytest.mark.parametrize("version, expected", [
    ("0.0.0-20220412020605-290c469a71a5", None),
    ("0.0.0-20220524220425-1d687d428aca", Match("0.1.1-0.20221104162952-702349b0e862")),
    ("0.0.0-20221012135044-0b7e1fb9d458", Match("0.1.1-0.20221104162952-702349b0e862")),
    ("0.1.0", Match("0.1.1-0.20221104162952-702349b0e862")),
    ("v0.1.0", Match("0.1.1-0.20221104162952-702349b0e862")),
    ("0.1.1-0.20221104162952-702349b0e862", None), ("0.1.1", None), ("0.2.0", None),
])
def test_go_pseudo_versions_x_net(version, expected):
    affected = only_affected(real("Go", "GO-2023-1495"))
    assert match("Go", version, affected) == expected


@pytest.mark.parametrize("version, expected", [
    ("0.0.0-20190308221718-c2843e01d9a2", Match("0.0.0-20200220183623-bac4c82f6975")),
    ("0.0.0-20200220183623-bac4c82f6975", None), ("0.0.0-20200622213623-75b288015ac9", None),
    ("0.1.0", None),
])
def test_go_introduced_zero_covers_pseudo_versions_of_v0_0_0(version, expected):
    # "0" as a SemVer version would be 0.0.0, which sorts after 0.0.0-<timestamp>.
    affected = only_affected(real("Go", "GO-2020-0012"))  # golang.org/x/crypto
    assert match("Go", version, affected) == expected


def test_go_incompatible_versions():
    affected = only_affected(real("Go", "GO-2021-0073"))  # git-lfs, +incompatible
    fixed = "2.1.1-0.20170519163204-f913f5f9c7c6+incompatible"
    assert match("Go", "v2.1.0+incompatible", affected) == Match(fixed)
    assert match("Go", "2.1.1+incompatible", affected) is None
    # Go compares versions ignoring build metadata: 2.0.0 is 2.0.0+incompatible.
    fixed = ranges([{"introduced": "0"}, {"fixed": "2.0.0+incompatible"}], kind="SEMVER")
    assert match("Go", "2.0.0", fixed) is None
    assert match("Go", "1.9.9+incompatible", fixed) == Match("2.0.0+incompatible")


@pytest.mark.parametrize("version, expected", [
    ("28.0.0", None), ("29.0.0", Match("36.0.5")), ("36.0.4", Match("36.0.5")),
    ("36.0.5", None), ("36.9.9", None), ("40.0.2", Match("40.0.3")), ("41.0.0", Match("41.0.1")),
    ("41.0.1", None), ("41.0.0-rc.1", None),
])
def test_crates_wasmtime_multiple_intervals(version, expected):
    affected = only_affected(real("crates.io", "RUSTSEC-2026-0006"))
    assert match("crates.io", version, affected) == expected


def test_crates_introduced_0_0_0_0():
    affected = only_affected(real("crates.io", "RUSTSEC-2022-0013"))  # regex
    assert match("crates.io", "0.1.0", affected) == Match("1.5.5")
    assert match("crates.io", "1.5.4", affected) == Match("1.5.5")
    assert match("crates.io", "1.5.5", affected) is None


def test_crates_empty_intervals_affect_nothing():
    # RustSec writes "introduced 0.10.0, fixed 0.10.0": equal versions keep written order.
    affected = only_affected(real("crates.io", "RUSTSEC-2022-0012"))  # arrow2
    assert match("crates.io", "0.9.1", affected) == Match("0.9.2")
    assert match("crates.io", "0.7.0", affected) == Match("0.7.1")
    assert match("crates.io", "0.8.5", affected) is None
    assert match("crates.io", "0.10.0", affected) is None
    assert match("crates.io", "0.18.0", affected) is None


# Matching records of our own

def test_an_end_at_the_version_of_a_later_introduction_closes_the_earlier_interval():
    # Written newest interval first: [0.13.0, 0.14.0rc1) then [0.12.2, 0.13.0). Its versions
    # list leaves out 0.13.x, so only the ranges can find them.
    affected = only_affected(real("PyPI", "PYSEC-2022-42972"))  # apache-iotdb
    assert "0.13.0" not in affected["versions"]
    assert match("PyPI", "0.12.1", affected) is None
    assert match("PyPI", "0.12.9", affected) == Match("0.13.0")
    assert match("PyPI", "0.13.0", affected) == Match("0.14.0rc1")
    assert match("PyPI", "0.13.4", affected) == Match("0.14.0rc1")
    assert match("PyPI", "0.14.0rc1", affected) is None


def test_events_at_equal_versions():
    adjacent = ranges([{"introduced": "1.0"}, {"fixed": "2.0"}, {"introduced": "2.0"},
                       {"fixed": "3.0"}])
    reversed_ = ranges([{"introduced": "2.0"}, {"fixed": "3.0"}, {"introduced": "1.0"},
                        {"fixed": "2.0"}])
    for affected in (adjacent, reversed_):
        assert match("PyPI", "1.5", affected) == Match("2.0")
        assert match("PyPI", "2.0", affected) == Match("3.0")
        assert match("PyPI", "2.5", affected) == Match("3.0")
        assert match("PyPI", "3.0", affected) is None
    empty = ranges([{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"},
                    {"fixed": "2.0"}])
    assert match("PyPI", "2.0", empty) is None
    assert match("PyPI", "0.5", empty) == Match("1.0")


def test_debian_epochs_and_tildes():
    affected = ranges([{"introduced": "0"}, {"fixed": "1:2.3~rc1-1"}])
    assert match("Debian:12", "1:2.2-5", affected) == Match("1:2.3~rc1-1")
    assert match("Debian:12", "1:2.3~beta2-1", affected) == Match("1:2.3~rc1-1")
    assert match("Debian:12", "1:2.3~rc1-1", affected) is None
    assert match("Debian:12", "1:2.3-1", affected) is None
    assert match("Debian:12", "9.9-1", affected) == Match("1:2.3~rc1-1")  # no epoch: 0 < 1


def test_alpine_revisions():
    affected = ranges([{"introduced": "3.1.0-r0"}, {"fixed": "3.1.4-r10"}])
    assert match("Alpine:v3.20", "3.1.4-r9", affected) == Match("3.1.4-r10")
    assert match("Alpine:v3.20", "3.1.4-r10", affected) is None
    assert match("Alpine:v3.20", "3.0.9-r3", affected) is None
    assert match("Alpine:v3.20", "3.1.10-r0", affected) is None  # 10 > 4, not as strings
    assert match("Alpine:v3.20", "3.1.4_rc1-r0", affected) == Match("3.1.4-r10")


def test_limit_bounds_a_range():
    affected = ranges([{"introduced": "1.0.0"}, {"limit": "2.0.0"}], kind="SEMVER")
    assert match("npm", "1.5.0", affected) == Match(None)
    assert match("npm", "2.0.0", affected) is None
    assert match("npm", "0.9.0", affected) is None
    unlimited = ranges([{"introduced": "1.0.0"}, {"limit": "*"}], kind="SEMVER")
    assert match("npm", "99.0.0", unlimited) == Match(None)


def test_several_ranges_and_the_fix_of_the_one_matched():
    affected = ranges([{"introduced": "1.0"}, {"fixed": "1.2"}],
                      [{"introduced": "2.0"}, {"fixed": "2.0.3"}, {"fixed": "2.1"}])
    assert match("PyPI", "1.1", affected) == Match("1.2")
    assert match("PyPI", "2.0.1", affected) == Match("2.0.3")
    assert match("PyPI", "1.5", affected) is None


def test_git_ranges_are_ignored_unless_versions_lists_the_version():
    affected = {"ranges": [{"type": "GIT", "repo": "https://example.org/x.git",
                            "events": [{"introduced": "0"}, {"fixed": "a" * 40}]}],
                "versions": ["1.0"]}
    assert match("PyPI", "1.0", affected) == Match(None)
    assert match("PyPI", "0.9", affected) is None


def test_unknown_ecosystems_and_unparsable_bounds_never_raise():
    affected = ranges([{"introduced": "0"}, {"fixed": "not a version!"}])
    assert match("PyPI", "1.0", affected) is None
    assert match("PyPI", "1.0", {**affected, "versions": ["1.0"]}) == Match(None)
    assert match("Hackage", "1.0", ranges([{"introduced": "0"}])) is None
    assert match("Hackage", "1.0", ranges([{"introduced": "0"}], kind="SEMVER")) == Match(None)
    assert match("PyPI", "1.0", {"ranges": [{"type": "ECOSYSTEM", "events": "junk"}]}) is None


# Severity

CVSS2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"
CVSS3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def test_severity_of_real_records():
    record = real("crates.io", "RUSTSEC-2022-0013")
    assert severity_of(record, record["affected"][0]) == Severity(
        "HIGH", 7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "3.1")
    record = real("crates.io", "RUSTSEC-2024-0445")
    assert severity_of(record) == Severity(
        "LOW", 2.3, "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", "4.0")
    record = real("PyPI", "PYSEC-2017-106")
    assert severity_of(record).label == "MEDIUM"
    assert (severity_of(record).score, severity_of(record).version) == (6.1, "3.0")
    assert severity_of(real("Go", "GO-2020-0012")) == Severity("UNDEFINED", None, None, None)


def test_cvss_preference():
    def sev(*pairs):
        return [{"type": t, "score": s} for t, s in pairs]
    assert severity_of({"severity": sev(("CVSS_V2", CVSS2))}) == Severity(
        "HIGH", 7.5, CVSS2, "2.0")
    assert severity_of({"severity": sev(("CVSS_V4", CVSS4))}) == Severity(
        "CRITICAL", 9.3, CVSS4, "4.0")
    both = {"severity": sev(("CVSS_V4", CVSS4), ("CVSS_V2", CVSS2), ("CVSS_V3", CVSS3))}
    assert severity_of(both) == Severity("CRITICAL", 9.8, CVSS3, "3.1")
    assert severity_of({"severity": sev(("CVSS_V4", CVSS4), ("CVSS_V2", CVSS2))}).version == "2.0"
    # The package's own severity wins over the record's.
    assert severity_of(both, {"severity": sev(("CVSS_V2", CVSS2))}).version == "2.0"


def test_zero_scores_are_informational():
    none3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"
    assert severity_of({"severity": [{"type": "CVSS_V3", "score": none3}]}) == Severity(
        "INFORMATIONAL", 0.0, none3, "3.1")
    none2 = "AV:N/AC:L/Au:N/C:N/I:N/A:N"
    assert severity_of({"severity": [{"type": "CVSS_V2", "score": none2}]}).label == \
        "INFORMATIONAL"


def test_malformed_vectors_fall_through():
    record = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/garbage"},
                           {"type": "CVSS_V3", "score": None},
                           {"type": "CVSS_V2", "score": CVSS3},
                           {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"},
                           "junk"],
              "database_specific": {"severity": "MODERATE"}}
    assert severity_of(record) == Severity("MEDIUM", None, None, None)
    record["severity"].append({"type": "CVSS_V4", "score": CVSS4})
    assert severity_of(record).score == 9.3


@pytest.mark.parametrize("rating, label", [
    ("MODERATE", "MEDIUM"), ("LOW", "LOW"), ("HIGH", "HIGH"), ("CRITICAL", "CRITICAL"),
    ("moderate", "MEDIUM"), ("whatever", "UNDEFINED"), (3, "UNDEFINED")])
def test_database_specific_ratings(rating, label):
    assert severity_of({"database_specific": {"severity": rating}}).label == label


def test_the_package_rating_wins_over_the_record_rating():
    record = {"database_specific": {"severity": "LOW"}}
    assert severity_of(record, {"ecosystem_specific": {"severity": "CRITICAL"}}).label == \
        "CRITICAL"
    assert severity_of(record, {"database_specific": {"severity": "HIGH"}}).label == "HIGH"
    assert severity_of(record, {"ecosystem_specific": {"other": 1}}).label == "LOW"
    assert severity_of({}, None) == Severity("UNDEFINED", None, None, None)
