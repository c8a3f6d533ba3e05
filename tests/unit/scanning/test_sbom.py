"""SBOMs of an image's inventory: CycloneDX 1.6 and SPDX 2.3 JSON documents that the formats'
own libraries accept (cyclonedx-python-lib's strict JSON schema validator, spdx-tools' parser
and validator), listing every package once per platform with its purl, with unique
identifiers, and the same bytes for the same inputs."""
import json
import re
import uuid

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL
from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from berth.scanning import sbom
from berth.scanning.inventory.image import ImageInventory
from berth.scanning.packages import GO, NODE, OS, PYTHON, Distro, Package

DIGEST = "sha256:" + "ab" * 32
LAYER1, LAYER2 = "sha256:" + "11" * 32, "sha256:" + "22" * 32
DEBIAN = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
SPDXID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")


def _purl(type_, name, version, namespace=None, qualifiers=None):
    return PackageURL(type=type_, namespace=namespace, name=name, version=version,
                      qualifiers=qualifiers).to_string()


def _deb(name, version, source_name=None, source_version=None):
    return Package("Debian", name, version,
                   _purl("deb", name, version, "debian", {"arch": "amd64"}),
                   "var/lib/dpkg/status", OS, source_name, source_version, "amd64", LAYER1)


def _go(module, version):
    namespace, _, name = module.rpartition("/")
    return Package("Go", module, version, _purl("golang", name, version, namespace or None),
                   "usr/local/bin/app", GO, layer=LAYER2)


LODASH = _purl("npm", "lodash", "4.17.21")
PACKAGES = [
    _deb("libc6", "2.36-9+deb12u4", "glibc"),
    _deb("libssl3", "3.0.11-1~deb12u2", "openssl"),
    _deb("bash", "5.2.15-2+b2", None, "5.2.15-2"),
    _deb("tzdata", "2024a-0+deb12u1"),
    Package("PyPI", "zope.interface", "6.1", _purl("pypi", "zope.interface", "6.1"),
            "usr/lib/python3/dist-packages/zope.interface-6.1.dist-info/METADATA", PYTHON,
            layer=LAYER2),
    Package("PyPI", "ruamel.yaml.clib", "0.2.8", _purl("pypi", "ruamel.yaml.clib", "0.2.8"),
            "usr/lib/python3/dist-packages/ruamel.yaml.clib-0.2.8.dist-info/METADATA", PYTHON,
            layer=LAYER2),
    Package("npm", "@types/node", "20.11.0", _purl("npm", "node", "20.11.0", "@types"),
            "app/node_modules/@types/node/package.json", NODE, layer=LAYER2),
    # one package read from two files: two entries
    Package("npm", "lodash", "4.17.21", LODASH, "app/package-lock.json", NODE, layer=LAYER2),
    Package("npm", "lodash", "4.17.21", LODASH, "app/node_modules/lodash/package.json", NODE,
            layer=LAYER2),
    _go("stdlib", "1.22.1"),
    _go("github.com/spf13/cobra", "v1.8.0"),
    _go("golang.org/x/net/http2", "v0.0.0-20240101000000-abcdef123456"),
]


def _subject(platforms=None, **changes):
    fields = {"repository": "team/web/app", "digest": DIGEST, "tags": ("v1.2", "latest"),
              "platforms": (("", ImageInventory(PACKAGES, DEBIAN)),) if platforms is None
              else tuple(platforms),
              "created": 1_700_000_000.75, "tool_version": "0.1.0",
              "registry": "registry.example.com:5000"}
    return sbom.Subject(**{**fields, **changes})


SINGLE = _subject()
MULTI = _subject([("linux/amd64", ImageInventory(PACKAGES, DEBIAN)),
                  ("linux/arm64", ImageInventory(PACKAGES, DEBIAN))])


@pytest.fixture(scope="module")
def cyclonedx_validator():
    return JsonStrictValidator(SchemaVersion.V1_6)


def _assert_cyclonedx_valid(validator, document):
    text = sbom.dumps(document).decode()
    error = validator.validate_str(text)
    assert error is None, str(error)
    assert len(Bom.from_json(json.loads(text)).components) == len(document["components"])


def _assert_spdx_valid(tmp_path, document):
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(sbom.dumps(document))
    parsed = parse_from_file(str(path))
    assert validate_full_spdx_document(parsed) == []
    return parsed


def _components(document):
    return [c for c in document["components"] if c["type"] == "library"]


def _spdx_packages(document):
    return [p for p in document["packages"] if p.get("primaryPackagePurpose") == "LIBRARY"]


@pytest.mark.parametrize("subject", [SINGLE, MULTI], ids=["single", "multi"])
def test_cyclonedx_is_valid_1_6(subject, cyclonedx_validator):
    document = sbom.build(subject, "cyclonedx")
    assert (document["bomFormat"], document["specVersion"], document["version"]) == (
        "CycloneDX", "1.6", 1)
    _assert_cyclonedx_valid(cyclonedx_validator, document)


@pytest.mark.parametrize("subject", [SINGLE, MULTI], ids=["single", "multi"])
def test_spdx_is_valid_2_3(subject, tmp_path):
    document = sbom.build(subject, "spdx")
    parsed = _assert_spdx_valid(tmp_path, document)
    assert parsed.creation_info.spdx_version == "SPDX-2.3"
    assert len(parsed.packages) == len(document["packages"])
    assert len(parsed.relationships) == len(document["relationships"])


@pytest.mark.parametrize("subject", [SINGLE, MULTI], ids=["single", "multi"])
def test_every_package_appears_with_its_purl_once_per_platform(subject):
    platforms = len(subject.platforms)
    expected = [p.purl for p in PACKAGES]
    cdx, spdx = sbom.build(subject, "cyclonedx"), sbom.build(subject, "spdx")
    assert sorted(c["purl"] for c in _components(cdx)) == sorted(expected * platforms)
    locators = [r["referenceLocator"] for p in _spdx_packages(spdx) for r in p["externalRefs"]]
    assert sorted(locators) == sorted(expected * platforms)
    assert {(c["name"], c["version"]) for c in _components(cdx)} == {
        (p.name, p.version) for p in PACKAGES}
    assert {(p["name"], p["versionInfo"]) for p in _spdx_packages(spdx)} == {
        (p.name, p.version) for p in PACKAGES}


@pytest.mark.parametrize("subject", [SINGLE, MULTI], ids=["single", "multi"])
def test_counts_match(subject):
    platforms = len(subject.platforms)
    rows = (len(PACKAGES) + 1) * platforms  # each platform's packages and its distro
    cdx, spdx = sbom.build(subject, "cyclonedx"), sbom.build(subject, "spdx")
    assert len(cdx["components"]) == rows
    assert len(_components(cdx)) == len(PACKAGES) * platforms
    assert [c["type"] for c in cdx["components"]].count("operating-system") == platforms
    [dependency] = cdx["dependencies"]
    assert dependency["ref"] == cdx["metadata"]["component"]["bom-ref"]
    assert dependency["dependsOn"] == [c["bom-ref"] for c in cdx["components"]]
    assert len(spdx["packages"]) == rows + 1  # and the image
    assert len(spdx["relationships"]) == rows + 1
    contained = [r["relatedSpdxElement"] for r in spdx["relationships"]
                 if (r["spdxElementId"], r["relationshipType"]) == ("SPDXRef-Image", "CONTAINS")]
    assert contained == [p["SPDXID"] for p in spdx["packages"][1:]]
    assert spdx["relationships"][0] == {"spdxElementId": "SPDXRef-DOCUMENT",
                                        "relationshipType": "DESCRIBES",
                                        "relatedSpdxElement": "SPDXRef-Image"}


@pytest.mark.parametrize("fmt", sbom.FORMATS)
def test_same_inputs_same_bytes(fmt):
    # equal but separately built inputs
    again = _subject([("linux/amd64", ImageInventory(list(PACKAGES), DEBIAN)),
                      ("linux/arm64", ImageInventory(list(PACKAGES), DEBIAN))])
    assert sbom.dumps(sbom.build(MULTI, fmt)) == sbom.dumps(sbom.build(again, fmt))
    assert sbom.dumps(sbom.build(SINGLE, fmt)) == sbom.dumps(sbom.build(_subject(), fmt))
    assert sbom.dumps(sbom.build(SINGLE, fmt)) != sbom.dumps(sbom.build(
        _subject(created=1_800_000_000), fmt))


def test_identifiers_derive_from_digest_and_format():
    cdx, spdx = sbom.build(SINGLE, "cyclonedx"), sbom.build(SINGLE, "spdx")
    serial = uuid.UUID(cdx["serialNumber"].removeprefix("urn:uuid:"))
    namespace = uuid.UUID(spdx["documentNamespace"].removeprefix("urn:uuid:"))
    assert serial.version == namespace.version == 5 and serial != namespace
    other = _subject(digest="sha256:" + "cd" * 32)
    assert sbom.build(other, "cyclonedx")["serialNumber"] != cdx["serialNumber"]
    assert sbom.build(other, "spdx")["documentNamespace"] != spdx["documentNamespace"]
    assert sbom.build(_subject(tags=()), "cyclonedx")["serialNumber"] == cdx["serialNumber"]


def test_timestamps():
    assert sbom.build(SINGLE, "cyclonedx")["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert sbom.build(SINGLE, "spdx")["creationInfo"] == {
        "created": "2023-11-14T22:13:20Z", "creators": ["Tool: berth-0.1.0"]}


def test_no_duplicate_identifiers_across_platforms_and_files(cyclonedx_validator, tmp_path):
    # the same packages on two platforms, lodash from two files, and an exact duplicate
    inventory = ImageInventory(PACKAGES + [PACKAGES[0]], DEBIAN)
    subject = _subject([("linux/amd64", inventory), ("linux/arm64", inventory)])
    cdx, spdx = sbom.build(subject, "cyclonedx"), sbom.build(subject, "spdx")
    refs = [cdx["metadata"]["component"]["bom-ref"]] + [c["bom-ref"] for c in cdx["components"]]
    assert len(refs) == len(set(refs)) == 1 + 2 * (len(PACKAGES) + 1)
    ids = ["SPDXRef-DOCUMENT"] + [p["SPDXID"] for p in spdx["packages"]]
    assert len(ids) == len(set(ids)) == 2 + 2 * (len(PACKAGES) + 1)
    lodash = [c for c in cdx["components"] if c.get("purl") == LODASH]
    assert len(lodash) == 4  # two files on two platforms
    _assert_cyclonedx_valid(cyclonedx_validator, cdx)
    _assert_spdx_valid(tmp_path, spdx)


def test_odd_names_make_valid_spdxids():
    spdx = sbom.build(MULTI, "spdx")
    assert all(SPDXID.match(p["SPDXID"]) for p in spdx["packages"])
    by_name = {p["name"]: p["SPDXID"] for p in _spdx_packages(spdx)}
    assert by_name["@types/node"].startswith("SPDXRef-Package-npm-types-node-20.11.0-")
    assert by_name["github.com/spf13/cobra"].startswith(
        "SPDXRef-Package-Go-github.com-spf13-cobra-v1.8.0-")
    assert by_name["zope.interface"].startswith("SPDXRef-Package-PyPI-zope.interface-6.1-")
    assert by_name["libssl3"].startswith("SPDXRef-Package-Debian-libssl3-3.0.11-1-deb12u2-")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                              max_size=20).filter(str.strip), min_size=1, max_size=4),
       version=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10))
def test_any_name_makes_valid_documents(names, version, cyclonedx_validator, tmp_path):
    try:
        purls = [_purl("npm", name.strip(), version or None) for name in names]
    except (ValueError, TypeError):  # names packageurl cannot write (e.g. "/"): no package
        assume(False)
    packages = [Package("npm", name, version, purl, "app/package-lock.json", NODE,
                        layer=LAYER2) for name, purl in zip(names, purls)]
    subject = _subject([("linux/amd64", ImageInventory(packages, None))])
    spdx = sbom.build(subject, "spdx")
    assert all(SPDXID.match(p["SPDXID"]) for p in spdx["packages"])
    _assert_spdx_valid(tmp_path, spdx)
    _assert_cyclonedx_valid(cyclonedx_validator, sbom.build(subject, "cyclonedx"))


def test_the_image_component():
    cdx, spdx = sbom.build(SINGLE, "cyclonedx"), sbom.build(SINGLE, "spdx")
    image = cdx["metadata"]["component"]
    assert (image["type"], image["name"], image["version"]) == (
        "container", "team/web/app", DIGEST)
    purl = PackageURL.from_string(image["purl"])
    assert (purl.type, purl.namespace, purl.name, purl.version) == ("oci", None, "app", DIGEST)
    assert purl.qualifiers == {"repository_url": "registry.example.com:5000/team/web/app",
                               "tag": "v1.2"}
    assert {"name": "berth:tag", "value": "latest"} in image["properties"]
    assert cdx["metadata"]["tools"] == {"components": [
        {"type": "application", "name": "berth", "version": "0.1.0"}]}
    [spdx_image] = [p for p in spdx["packages"] if p["SPDXID"] == "SPDXRef-Image"]
    assert (spdx_image["name"], spdx_image["versionInfo"],
            spdx_image["primaryPackagePurpose"]) == ("team/web/app", DIGEST, "CONTAINER")
    assert spdx_image["externalRefs"][0]["referenceLocator"] == image["purl"]
    assert spdx["name"] == f"team/web/app@{DIGEST}"
    bare = PackageURL.from_string(sbom.image_purl(_subject(registry="", tags=())))
    assert (bare.name, bare.version, bare.qualifiers) == ("app", DIGEST, {})


def test_package_details():
    cdx, spdx = sbom.build(MULTI, "cyclonedx"), sbom.build(MULTI, "spdx")
    bash = next(c for c in cdx["components"] if c["name"] == "bash")
    properties = {p["name"]: p["value"] for p in bash["properties"]}
    assert properties == {
        "berth:ecosystem": "Debian", "berth:packageManager": OS,
        "berth:filePath": "var/lib/dpkg/status", "berth:layerDigest": LAYER1,
        "berth:platform": "linux/amd64", "berth:arch": "amd64",
        "berth:sourceName": "bash", "berth:sourceVersion": "5.2.15-2"}
    cobra = next(c for c in cdx["components"] if c["name"] == "github.com/spf13/cobra")
    assert not {"berth:sourceName", "berth:arch"} & {p["name"] for p in cobra["properties"]}
    libc = next(p for p in _spdx_packages(spdx) if p["name"] == "libc6")
    assert libc["sourceInfo"] == (f"acquired from file var/lib/dpkg/status in layer {LAYER1} "
                                  "of platform linux/amd64; source package glibc 2.36-9+deb12u4")
    assert libc["externalRefs"] == [{"referenceCategory": "PACKAGE-MANAGER",
                                     "referenceType": "purl", "referenceLocator": PACKAGES[0].purl}]
    assert all(libc[k] == "NOASSERTION" for k in (
        "downloadLocation", "licenseConcluded", "licenseDeclared"))
    assert libc["filesAnalyzed"] is False
    os_component = next(c for c in cdx["components"] if c["type"] == "operating-system")
    assert (os_component["name"], os_component["version"], os_component["description"]) == (
        "debian", "12", DEBIAN.pretty_name)
    os_package = next(p for p in spdx["packages"]
                      if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM")
    assert (os_package["name"], os_package["versionInfo"]) == ("debian", "12")


def test_enumerations_as_the_spdx_2_3_json_schema_spells_them():
    # spdx-tools' parser accepts either spelling; the official JSON schema only these
    spdx = sbom.build(MULTI, "spdx")
    assert {p["primaryPackagePurpose"] for p in spdx["packages"]} == {
        "CONTAINER", "OPERATING_SYSTEM", "LIBRARY"}
    assert {r["referenceCategory"] for p in spdx["packages"] for r in p.get("externalRefs", [])
            } == {"PACKAGE-MANAGER"}
    assert {r["relationshipType"] for r in spdx["relationships"]} == {"DESCRIBES", "CONTAINS"}


def test_the_validators_reject_broken_documents(cyclonedx_validator, tmp_path):
    cdx = sbom.build(SINGLE, "cyclonedx")
    cdx["components"][1]["type"] = "gadget"
    assert cyclonedx_validator.validate_str(sbom.dumps(cdx).decode()) is not None
    spdx = sbom.build(SINGLE, "spdx")
    spdx["packages"][1]["SPDXID"] = "SPDXRef-@types/node"
    path = tmp_path / "broken.spdx.json"
    path.write_bytes(sbom.dumps(spdx))
    assert validate_full_spdx_document(parse_from_file(str(path))) != []


def test_formats_and_errors():
    assert set(sbom.MEDIA_TYPES) == set(sbom.FORMATS)
    with pytest.raises(ValueError, match="unknown SBOM format"):
        sbom.build(SINGLE, "swid")
    empty = sbom.build(_subject(platforms=()), "cyclonedx")
    assert empty["components"] == [] and empty["dependencies"][0]["dependsOn"] == []


def test_a_large_inventory_has_unique_identifiers():
    packages = [Package("PyPI", f"p{i % 500}", "1.0", _purl("pypi", f"p{i % 500}", "1.0"),
                        f"site-packages/{i}/METADATA", PYTHON) for i in range(5000)]
    subject = _subject([("", ImageInventory(packages, DEBIAN))])
    cdx, spdx = sbom.build(subject, "cyclonedx"), sbom.build(subject, "spdx")
    assert len({c["bom-ref"] for c in cdx["components"]}) == 5001
    assert len({p["SPDXID"] for p in spdx["packages"]}) == 5002
