"""Vulnerability scanning as ECR users drive it, on one node: OSV advisories imported with
`berth admin vulndb import` (the shared PyPI data and advisories of our own for Debian and
npm), images with a Debian dpkg database, real old wheels and npm packages pushed with skopeo,
scanned on push as the registry's configuration says, findings read with the aws CLI and
boto3. Enhanced continuous scanning picks up an advisory imported later without a new push,
and closes a finding whose advisory no longer applies. Whiteouts hide what an upper layer
deleted; a layer that is not a tar archive fails its scan with a reason, and the next image
still scans."""
from __future__ import annotations

import functools
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client
from tests.support.credentials import admin_key
from tests.support.ecr_shapes import shape_problems
from tests.support.gc import admin_online, aws_ecr, eventually
from tests.support.oci_layout import Blob, OciLayout, build_image, canonical_json
from tests.support.oci_push import push_blob
from tests.support.rust_binary import auditable_binary, crate
from tests.support.scan_images import (MEDIUM, SITE, advisory, host_debian, installed_from,
                                       npm_package, spring_boot_jar, wheels,
                                       write_advisories)
from tests.support.watched_node import logged_in_skopeo, watched_node

pytestmark = pytest.mark.e2e

VULNDB = "/work/shared/vulndb"
# The image's OS is this machine's own Debian (its real dpkg database); our advisories name
# two of its source packages, fixed just after the installed versions; dpkg-query says which
# binary packages each built.
BASE, DEBIAN = host_debian()
OPENSSL, OPENSSL_VERSION = installed_from("openssl")
ZLIB, ZLIB_VERSION = installed_from("zlib")
OPENSSL_FIX, ZLIB_FIX = OPENSSL_VERSION + "+berth1", ZLIB_VERSION + "+berth1"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A local HTTP server handing out OSV bulk files, as a deployment's own mirror does
    (RustSec's advisories, under a name of the mirror's own)."""
    folder = tmp_path_factory.mktemp("mirror")
    shutil.copy(f"{_shared()}/crates.io-all.zip", folder / "RustSec-all.zip")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def node(tmp_path_factory, mirror):
    workdir = tmp_path_factory.mktemp("scanning")
    env = {"BERTH_VULNDB_URLS": f"{mirror}/RustSec-all.zip {mirror}/missing-all.zip",
           "BERTH_VULNDB_REFRESH_SECONDS": "2"}
    with watched_node(workdir, "scanning", env) as found:
        yield found


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("scan-work")


@pytest.fixture(scope="module")
def raw():
    return {}


@pytest.fixture(scope="module")
def ecr(node, raw):
    client = ecr_client(node.url, admin_key(node.credentials_dir))

    def keep(http_response, model, **_):  # every answer, for the shape check at the end
        if http_response.status_code == 200:
            raw.setdefault(model.name, []).append(http_response.content)
    client.meta.events.register("after-call.ecr", keep)
    return client


@pytest.fixture(scope="module")
def imported(node, workdir):
    own = write_advisories(workdir / "own-advisories", [
        advisory("DEBIAN-CVE-2099-0001", DEBIAN, "openssl", OPENSSL_FIX,
                 aliases=("CVE-2099-0001",)),
        advisory("DEBIAN-CVE-2099-0002", DEBIAN, "zlib", ZLIB_FIX, MEDIUM),
        advisory("GHSA-test-npm1-0001", "npm", "left-pad", "1.3.1"),
        advisory("GHSA-test-npm2-0002", "npm", "minimist", "1.2.6"),
        advisory("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core",
                 "2.15.0", aliases=("CVE-2021-44228",))])
    result = admin_online(node, "vulndb", "import", f"{_shared()}/PyPI-all.zip",
                          f"{_shared()}/Go-all.zip", f"{_shared()}/crates.io-all.zip", str(own))
    return {s["Name"]: s for s in result["Sources"]}


def _shared() -> str:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent.parent / "shared" / "vulndb").is_dir():
            return str(parent.parent / "shared" / "vulndb")
    return VULNDB


@pytest.fixture(scope="module")
def app_image(workdir):
    base = dict(BASE)
    python = wheels(["requests==2.19.1", "urllib3==1.23"], workdir)
    deleted = {f"{SITE}/.wh.urllib3-1.23.dist-info": b"", f"{SITE}/.wh.urllib3": b""}
    # A Go program (skopeo, built by Debian with Go 1.19.8): its embedded build info.
    go = {"usr/local/bin/skopeo": Path(shutil.which("skopeo")).read_bytes(),
          # A Rust program built with cargo-auditable: smallvec 1.6.0 has RUSTSEC-2021-0003.
          "usr/local/bin/rusty": auditable_binary(workdir, [
              crate("rusty", "0.1.0", source="local", root=True), crate("smallvec", "1.6.0")])}
    java = {"opt/app/app.jar": spring_boot_jar(
        "com.example:app:1.0", ["org.apache.logging.log4j:log4j-core:2.14.1"])}
    # A project's lock file (nothing installed beside it): what it pins is what is found.
    web = {"srv/web/yarn.lock": b'# yarn lockfile v1\n\nminimist@^1.2.0:\n  version "1.2.5"\n'}
    return build_image([base, {**python, **npm_package("left-pad", "1.1.3"), **go, **java,
                               **web}, deleted])


def _push(node, workdir, image, repo: str, tag: str):
    layout = OciLayout(workdir / f"layout-{repo.replace('/', '-')}-{tag}").write(
        image.blobs, {tag: image.manifest})
    logged_in_skopeo(node, workdir).copy(f"oci:{layout.path}:{tag}",
                                         f"docker://127.0.0.1:{node.port}/{repo}:{tag}",
                                         "--dest-tls-verify=false")
    return image.manifest.digest


def _scan_status(ecr, repo: str, digest: str) -> dict:
    detail = ecr.describe_images(repositoryName=repo,
                                 imageIds=[{"imageDigest": digest}])["imageDetails"][0]
    return detail


def _wait_scanned(ecr, repo, digest, statuses=("COMPLETE", "ACTIVE")) -> dict:
    found = {}

    def done() -> bool:
        found.update(_scan_status(ecr, repo, digest))
        return found.get("imageScanStatus", {}).get("status") in (*statuses, "FAILED",
                                                                   "UNSUPPORTED_IMAGE")
    eventually(done, f"the scan of {repo}@{digest}", timeout=120)
    return found


def _findings(ecr, repo: str, digest: str) -> list[dict]:
    pages = ecr.get_paginator("describe_image_scan_findings").paginate(
        repositoryName=repo, imageId={"imageDigest": digest}, PaginationConfig={"PageSize": 7})
    found = []
    for page in pages:
        scan = page.get("imageScanFindings", {})
        found += scan.get("enhancedFindings", []) + scan.get("findings", [])
    return found


def test_enhanced_continuous_scan_on_push_finds_os_and_language_advisories(
        node, ecr, workdir, imported, app_image):
    assert imported["PyPI"]["Records"] > 2000 and imported["own-advisories"]["Records"] == 5
    aws_ecr(node, "put-registry-scanning-configuration", "--scan-type", "ENHANCED", "--rules",
            json.dumps([{"scanFrequency": "CONTINUOUS_SCAN",
                         "repositoryFilters": [{"filter": "scan/cont*",
                                                "filterType": "WILDCARD"}]}]))
    ecr.create_repository(repositoryName="scan/continuous")
    digest = _push(node, workdir, app_image, "scan/continuous", "v1")
    detail = _wait_scanned(ecr, "scan/continuous", digest)
    assert detail["imageScanStatus"]["status"] == "ACTIVE", detail
    findings = _findings(ecr, "scan/continuous", digest)
    by_package = {}
    for f in findings:
        pkg = f["packageVulnerabilityDetails"]["vulnerablePackages"][0]
        by_package.setdefault(pkg["name"], []).append((f, pkg))
    # requests 2.19.1: CVE-2018-18074 (fixed in 2.20.0) is among the PyPI advisories.
    requests_ids = {f["packageVulnerabilityDetails"]["vulnerabilityId"]: pkg
                    for f, pkg in by_package["requests"]}
    assert "CVE-2018-18074" in requests_ids, sorted(requests_ids)
    assert requests_ids["CVE-2018-18074"]["fixedInVersion"] == "2.20.0"
    assert requests_ids["CVE-2018-18074"]["packageManager"] == "PYTHONPKG"
    assert requests_ids["CVE-2018-18074"]["filePath"].startswith(SITE + "/requests-2.19.1")
    # urllib3 1.23 has advisories too, but the top layer deleted it.
    assert "urllib3" not in by_package
    # OS: every binary package built from openssl and from zlib; nothing else of the OS.
    os_found = {name for name, found in by_package.items()
                if found[0][1]["packageManager"] == "OS"}
    assert os_found == OPENSSL | ZLIB
    assert {p["fixedInVersion"] for n in OPENSSL for _, p in by_package[n]} == {OPENSSL_FIX}
    assert {f["severity"] for n in ZLIB for f, _ in by_package[n]} == {"MEDIUM"}
    assert by_package["left-pad"][0][1]["packageManager"] == "NODEPKG"
    [(_, minimist)] = by_package["minimist"]
    assert (minimist["filePath"], minimist["version"], minimist["packageManager"]) == (
        "srv/web/yarn.lock", "1.2.5", "NODEPKG")
    assert "bash" not in by_package
    go = {f["packageVulnerabilityDetails"]["vulnerabilityId"]: pkg for f, pkg in by_package["stdlib"]}
    [(log4shell, log4j)] = by_package["org.apache.logging.log4j:log4j-core"]
    assert log4shell["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2021-44228"
    assert log4j["filePath"] == "opt/app/app.jar/BOOT-INF/lib/log4j-core-2.14.1.jar"
    assert (log4j["packageManager"], log4j["fixedInVersion"]) == ("JAR", "2.15.0")
    rust = {f["packageVulnerabilityDetails"]["vulnerabilityId"]: pkg
            for f, pkg in by_package["smallvec"]}
    assert rust["CVE-2021-25900"]["fixedInVersion"] == "1.6.1"  # RUSTSEC-2021-0003
    assert rust["CVE-2021-25900"]["packageManager"] == "CARGO"
    assert go and all(p["version"] == "1.19.8" and p["packageManager"] == "GOBINARY"
                      and p["filePath"] == "usr/local/bin/skopeo" for p in go.values())
    counts = detail["imageScanFindingsSummary"]["findingSeverityCounts"]
    assert sum(counts.values()) == len(findings)
    critical = [f for f in findings if f["severity"] == "CRITICAL"]
    assert counts.get("CRITICAL", 0) == len(critical) >= len(OPENSSL) + 2  # left-pad, log4j
    f = by_package["openssl"][0][0]
    assert f["status"] == "ACTIVE" and f["type"] == "PACKAGE_VULNERABILITY"
    assert f["resources"][0]["details"]["awsEcrContainerImage"]["imageTags"] == ["v1"]
    assert f["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2099-0001"
    assert f["score"] == 9.8
    with pytest.raises(ClientError) as caught:  # StartImageScan starts basic scans only
        ecr.start_image_scan(repositoryName="scan/continuous", imageId={"imageTag": "v1"})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_new_advisory_reaches_a_continuously_scanned_image_without_a_push(
        node, ecr, workdir, imported):
    digest = ecr.describe_images(repositoryName="scan/continuous",
                                 imageIds=[{"imageTag": "v1"}])["imageDetails"][0]["imageDigest"]
    before = {f["findingArn"]: f for f in _findings(ecr, "scan/continuous", digest)}
    later = write_advisories(workdir / "later", [
        advisory("PYSEC-2099-1", "PyPI", "requests", "2.99.0", MEDIUM),
        # openssl's advisory withdrawn from our feed: its findings close.
        {**advisory("DEBIAN-CVE-2099-0001", DEBIAN, "openssl", OPENSSL_FIX),
         "modified": "2026-11-20T00:00:00Z", "withdrawn": "2026-11-20T00:00:00Z"}])
    report = admin_online(node, "vulndb", "import", str(later))
    assert report["Sources"][0]["Changed"] == 2

    def rematched() -> bool:
        now = _findings(ecr, "scan/continuous", digest)
        return any(f["packageVulnerabilityDetails"]["vulnerabilityId"] == "PYSEC-2099-1"
                   for f in now)
    eventually(rematched, "the new advisory on the image", timeout=120)
    after = {f["findingArn"]: f for f in _findings(ecr, "scan/continuous", digest)}
    closed = [f for f in after.values() if f["status"] == "CLOSED"]
    assert {f["packageVulnerabilityDetails"]["vulnerabilityId"] for f in closed} == {
        "CVE-2099-0001"}
    kept = before.keys() & after.keys()
    assert all(after[k]["firstObservedAt"] == before[k]["firstObservedAt"] for k in kept)
    counts = _scan_status(ecr, "scan/continuous", digest)["imageScanFindingsSummary"]
    assert sum(counts["findingSeverityCounts"].values()) == len(after) - len(closed)


def test_basic_scan_on_push_reports_os_packages_only_and_limits_manual_scans(
        node, ecr, workdir, imported, app_image):
    # (openssl's first advisory may have been withdrawn above: a live one of its own)
    admin_online(node, "vulndb", "import", str(write_advisories(workdir / "basic", [
        advisory("DEBIAN-CVE-2099-0003", DEBIAN, "openssl", OPENSSL_FIX)])))
    ecr.create_repository(repositoryName="scan/basic",
                          imageScanningConfiguration={"scanOnPush": True})
    config = ecr.batch_get_repository_scanning_configuration(
        repositoryNames=["scan/basic", "scan/continuous", "scan/none"])
    by_name = {c["repositoryName"]: c for c in config["scanningConfigurations"]}
    assert by_name["scan/continuous"]["scanFrequency"] == "CONTINUOUS_SCAN"
    assert config["failures"] == [{"repositoryName": "scan/none",
                                   "failureCode": "REPOSITORY_NOT_FOUND",
                                   "failureReason": "REPOSITORY_NOT_FOUND"}]
    # Enhanced registry: the repository's own scanOnPush does not apply; back to basic.
    assert by_name["scan/basic"]["scanFrequency"] == "MANUAL"
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])
    assert ecr.batch_get_repository_scanning_configuration(repositoryNames=["scan/basic"])[
        "scanningConfigurations"][0]["scanFrequency"] == "SCAN_ON_PUSH"
    digest = _push(node, workdir, app_image, "scan/basic", "v1")
    detail = _wait_scanned(ecr, "scan/basic", digest)
    assert detail["imageScanStatus"]["status"] == "COMPLETE", detail
    scan = aws_ecr(node, "describe-image-scan-findings", "--repository-name", "scan/basic",
                   "--image-id", "imageTag=v1")
    findings = scan["imageScanFindings"]["findings"]
    names = {next(a["value"] for a in f["attributes"] if a["key"] == "package_name")
             for f in findings}
    assert names == OPENSSL | ZLIB
    assert "enhancedFindings" not in scan["imageScanFindings"]
    same = ecr.describe_image_scan_findings(repositoryName="scan/basic",
                                            imageId={"imageTag": "v1"})["imageScanFindings"]
    assert same["findings"] == findings  # boto3 and the aws CLI read the same answer
    assert scan["imageScanStatus"]["description"] == "The scan was completed successfully."
    with pytest.raises(ClientError) as caught:
        ecr.start_image_scan(repositoryName="scan/basic", imageId={"imageTag": "v1"})
    assert caught.value.response["Error"]["Code"] == "LimitExceededException"


def test_manual_scan_and_unscannable_images(node, ecr, workdir, imported, app_image):
    ecr.create_repository(repositoryName="scan/manual")
    session = node.session()
    garbage = b"\x00not a tar archive at all" * 100
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}})
    bad = build_image([{"x": b"y"}])
    bad_layers = [Blob(bad.layers[0].media_type, garbage)]
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": bad.manifest.media_type,
        "config": {"mediaType": bad.config.media_type, "digest": Blob("", config).digest,
                   "size": len(config)},
        "layers": [b.descriptor() for b in bad_layers]})
    for data in (config, garbage):
        push_blob(session, node.url, "scan/manual", data)
    r = session.put(f"{node.url}/v2/scan/manual/manifests/broken", data=manifest,
                    headers={"Content-Type": bad.manifest.media_type}, timeout=60)
    assert r.status_code == 201, r.text
    with pytest.raises(ClientError) as caught:
        ecr.describe_image_scan_findings(repositoryName="scan/manual",
                                         imageId={"imageTag": "broken"})
    assert caught.value.response["Error"]["Code"] == "ScanNotFoundException"
    started = ecr.start_image_scan(repositoryName="scan/manual", imageId={"imageTag": "broken"})
    assert started["imageScanStatus"] == {"status": "IN_PROGRESS"}
    digest = started["imageId"]["imageDigest"]
    detail = _wait_scanned(ecr, "scan/manual", digest)
    assert detail["imageScanStatus"]["status"] == "FAILED"
    assert "tar" in detail["imageScanStatus"]["description"]
    # A scratch image (no distribution, no packages): unsupported, with ECR's words.
    plain = _push(node, workdir, build_image([{"hello": b"hi"}]), "scan/manual", "plain")
    ecr.start_image_scan(repositoryName="scan/manual", imageId={"imageTag": "plain"})
    detail = _wait_scanned(ecr, "scan/manual", plain)
    assert detail["imageScanStatus"]["status"] == "UNSUPPORTED_IMAGE"
    # The worker survived both: a good image scans.
    good = _push(node, workdir, app_image, "scan/manual", "good")
    ecr.start_image_scan(repositoryName="scan/manual", imageId={"imageDigest": good})
    assert _wait_scanned(ecr, "scan/manual", good)["imageScanStatus"]["status"] == "COMPLETE"
    with pytest.raises(ClientError) as caught:
        ecr.start_image_scan(repositoryName="scan/manual", imageId={"imageTag": "missing"})
    assert caught.value.response["Error"]["Code"] == "ImageNotFoundException"


def test_the_database_is_refreshed_from_a_mirror_on_a_schedule(node):
    """BERTH_VULNDB_URLS: crates.io's bulk file comes from the mirror; a file the mirror does
    not have is skipped (logged), not a failure of the others."""
    def refreshed() -> bool:
        listed = {s["Name"]: s for s in admin_online(node, "vulndb", "list")["Sources"]}
        return listed.get("RustSec", {}).get("Records") == 1206
    eventually(refreshed, "RustSec's advisories from the mirror", timeout=60)
    assert "missing-all.zip: HTTP 404" in node.log_text()


def test_an_sbom_is_exported_and_attached_as_a_referrer(node, ecr, imported, app_image):
    from cyclonedx.validation.json import JsonStrictValidator
    from cyclonedx.schema import SchemaVersion
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    digest = ecr.describe_images(repositoryName="scan/continuous", imageIds=[
        {"imageTag": "v1"}])["imageDetails"][0]["imageDigest"]
    bom = admin_online(node, "sbom", "scan/continuous:v1", "--format", "cyclonedx", "--attach")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
    purls = {c.get("purl") for c in bom["components"]}
    assert {"pkg:pypi/requests@2.19.1", "pkg:npm/left-pad@1.1.3",
            "pkg:cargo/smallvec@1.6.0"} <= purls
    assert not any(p and p.startswith("pkg:pypi/urllib3") for p in purls)  # deleted on top
    libssl = next(p for p in purls if p and p.startswith("pkg:deb/debian/libssl3@"))
    assert f"distro={DEBIAN.lower().replace(':', '-')}" in libssl
    assert bom["metadata"]["component"]["version"] == digest
    spdx = admin_online(node, "sbom", f"scan/continuous@{digest}", "--format", "spdx")
    path = Path(node.data_dir) / "image.spdx.json"
    path.write_text(json.dumps(spdx))
    assert validate_full_spdx_document(parse_file(str(path))) == []
    assert len(spdx["packages"]) == len(bom["components"]) + 1  # and the image itself
    listed = node.session().get(f"{node.url}/v2/scan/continuous/referrers/{digest}",
                                timeout=30).json()["manifests"]
    [sbom] = [m for m in listed if m.get("artifactType") == "application/vnd.cyclonedx+json"]
    manifest = node.session().get(
        f"{node.url}/v2/scan/continuous/manifests/{sbom['digest']}", timeout=30,
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    layer = node.session().get(
        f"{node.url}/v2/scan/continuous/blobs/{manifest['layers'][0]['digest']}",
        timeout=30).json()
    assert {c.get("purl") for c in layer["components"]} == purls


def test_every_scanning_answer_has_the_models_shape(raw):
    """What the tests above saw (findings of both kinds with real advisories, scan statuses,
    configurations), each answer exactly its operation's output shape in botocore's model."""
    model = botocore.session.get_session().get_service_model("ecr")
    for operation in ("DescribeImageScanFindings", "DescribeImages", "StartImageScan",
                      "PutRegistryScanningConfiguration",
                      "BatchGetRepositoryScanningConfiguration"):
        assert raw.get(operation), operation
        shape = model.operation_model(operation).output_shape
        for content in raw[operation]:
            assert shape_problems(json.loads(content), shape) == [], content[:2000]
    kinds = {k for c in raw["DescribeImageScanFindings"]
             for k in json.loads(c).get("imageScanFindings", {})}
    assert {"findings", "enhancedFindings"} <= kinds
