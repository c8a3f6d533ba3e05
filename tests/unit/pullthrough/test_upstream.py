"""berth.pullthrough.upstream against a real CNCF Distribution (Debian's docker-registry): without
authentication, behind htpasswd (Basic), and over TLS with its own CA. A missing docker-registry
or htpasswd binary fails these tests: they are what proves the client speaks the protocol."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from berth.pullthrough.upstream import Upstream, UpstreamError
from tests.support.certificates import issue_pair, new_ca
from tests.support.daemon import Daemon
from tests.support.oci_push import digest_of, image_manifest
from tests.support.ports import free_port, wait_until
from tests.support.registry_server import DISTRIBUTION_BIN, distribution_config

HTPASSWD_BIN = "/usr/bin/htpasswd"  # apache2-utils (scripts/install-system-deps.sh)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST]
USER, PASSWORD = "puller", "Corr3ct-horse"
REPO = "library/app"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
LAYER = hashlib.shake_256(b"berth pull-through").digest(5 * 1024 * 1024 + 321)  # several chunks


class Registry:
    def __init__(self, daemon: Daemon, url: str, manifest_digest: str):
        self.daemon, self.url, self.manifest_digest = daemon, url, manifest_digest

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]


def _start(workdir: Path, extra_config: str = "", verify: str | bool = True) -> tuple[Daemon, str]:
    """docker-registry on a free port (a new one while it loses port races), once it answers."""
    if not os.access(DISTRIBUTION_BIN, os.X_OK):
        pytest.fail(f"{DISTRIBUTION_BIN} is missing: scripts/install-system-deps.sh installs it")
    scheme = "https" if "tls:" in extra_config else "http"
    problems = []
    for attempt in range(3):
        port, run_dir = free_port(), workdir / f"run-{attempt}"
        (run_dir / "data").mkdir(parents=True)
        config = run_dir / "config.yml"
        config.write_text(distribution_config(run_dir / "data", port) + extra_config)
        daemon = Daemon([DISTRIBUTION_BIN, "serve", config], run_dir / "server.log", cwd=run_dir)
        daemon.start()
        url = f"{scheme}://127.0.0.1:{port}"
        wait_until(lambda url=url, daemon=daemon: _answers(url, verify) or not daemon.alive(),
                   60, 0.1)
        time.sleep(0.2)  # one that lost the port race exits now
        if daemon.alive() and _answers(url, verify):
            return daemon, url
        daemon.stop()
        problems.append(daemon.log_text())
    pytest.fail("docker-registry did not start:\n" + "\n".join(problems))


def _answers(url: str, verify: str | bool) -> bool:
    try:
        return requests.get(f"{url}/v2/", timeout=2, verify=verify).status_code in (200, 401)
    except requests.RequestException:
        return False


def _push(url: str, auth: tuple[str, str] | None = None, verify: str | bool = True) -> str:
    """CONFIG and LAYER as REPO:v1: a POST and a PUT per blob (Distribution's Location has a
    query of its own), then the manifest's PUT."""
    with requests.Session() as session:
        session.auth, session.verify = auth, verify
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override session.verify
        for blob in (CONFIG, LAYER):
            started = session.post(f"{url}/v2/{REPO}/blobs/uploads/", timeout=30)
            assert started.status_code == 202, started.text
            done = session.put(urljoin(url, started.headers["Location"]), data=blob, timeout=60,
                               params={"digest": digest_of(blob)},
                               headers={"Content-Type": "application/octet-stream"})
            assert done.status_code == 201, done.text
        manifest = image_manifest(CONFIG, [LAYER])
        put = session.put(f"{url}/v2/{REPO}/manifests/v1", data=manifest, timeout=30,
                          headers={"Content-Type": OCI_MANIFEST})
        assert put.status_code == 201, put.text
        return digest_of(manifest)


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory):
    daemon, url = _start(tmp_path_factory.mktemp("distribution"))
    try:
        yield Registry(daemon, url, _push(url))
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("distribution-htpasswd")
    line = subprocess.run([HTPASSWD_BIN, "-Bbn", USER, PASSWORD], check=True,
                          capture_output=True, text=True).stdout.strip()
    (workdir / "htpasswd").write_text(line + "\n")
    auth = f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {workdir / 'htpasswd'}\n"
    daemon, url = _start(workdir, auth)
    try:
        yield Registry(daemon, url, _push(url, (USER, PASSWORD)))
    finally:
        daemon.stop()


def test_manifest_by_tag_and_by_digest(anonymous):
    upstream = Upstream(anonymous.url)
    upstream.check()
    by_tag = upstream.manifest(REPO, "v1", ACCEPT)
    assert by_tag.digest == anonymous.manifest_digest == digest_of(by_tag.content)
    assert by_tag.media_type == OCI_MANIFEST
    assert json.loads(by_tag.content)["layers"][0]["digest"] == digest_of(LAYER)
    assert upstream.manifest(REPO, by_tag.digest, ACCEPT) == by_tag
    upstream.close()


def test_manifest_digest_by_head(anonymous):
    upstream = Upstream(anonymous.url)
    assert upstream.manifest_digest(REPO, "v1", ACCEPT) == anonymous.manifest_digest
    digest = anonymous.manifest_digest
    assert upstream.manifest_digest(REPO, digest, ACCEPT) == digest
    assert upstream.manifest_digest(REPO, "v2", ACCEPT) is None
    assert upstream.manifest_digest("no/such-repo", "v1", ACCEPT) is None


def test_blob_streams_byte_for_byte(anonymous):
    upstream = Upstream(anonymous.url)
    with upstream.blob(REPO, digest_of(LAYER)) as blob:
        assert blob.size == len(LAYER)
        chunks = list(blob)
    assert b"".join(chunks) == LAYER
    assert len(chunks) >= 5 and max(map(len, chunks)) <= 1024 * 1024
    with upstream.blob(REPO, digest_of(CONFIG)) as blob:
        assert (blob.size, b"".join(blob)) == (len(CONFIG), CONFIG)


def test_a_blob_left_early_does_not_spoil_the_pool(anonymous):
    upstream = Upstream(anonymous.url)
    for _ in range(3):
        with upstream.blob(REPO, digest_of(LAYER)) as blob:
            assert len(next(iter(blob))) > 0
    assert upstream.manifest(REPO, "v1", ACCEPT).digest == anonymous.manifest_digest


@pytest.mark.parametrize("call", [
    lambda u: u.manifest(REPO, "v2", ACCEPT),
    lambda u: u.manifest("no/such-repo", "v1", ACCEPT),
    lambda u: u.manifest(REPO, digest_of(b"no such manifest"), ACCEPT),
    lambda u: u.blob(REPO, digest_of(b"no such blob")),
])
def test_unknown_things_are_not_found(anonymous, call):
    with pytest.raises(UpstreamError) as missing:
        call(Upstream(anonymous.url))
    assert (missing.value.code, missing.value.status) == ("not_found", 404)


def test_threads_share_one_upstream(anonymous):
    upstream = Upstream(anonymous.url)

    def pull(i: int) -> tuple[str, str]:
        manifest = upstream.manifest(REPO, "v1", ACCEPT)
        with upstream.blob(REPO, digest_of(LAYER if i % 4 == 0 else CONFIG)) as blob:
            return manifest.digest, digest_of(b"".join(blob))

    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(pull, range(24)))
    assert found == {(anonymous.manifest_digest, digest_of(LAYER)),
                     (anonymous.manifest_digest, digest_of(CONFIG))}


def test_https_is_the_default_scheme(anonymous):
    with pytest.raises(UpstreamError) as plain:
        Upstream(anonymous.host, timeout=5).check()  # https to a plain-HTTP server
    assert (plain.value.code, plain.value.status) == ("unavailable", None)
    Upstream(anonymous.url + "/").check()


def test_htpasswd_with_the_right_credentials(htpasswd):
    upstream = Upstream(htpasswd.url, (USER, PASSWORD))
    upstream.check()
    assert upstream.manifest(REPO, "v1", ACCEPT).digest == htpasswd.manifest_digest
    assert upstream.manifest_digest(REPO, "v1", ACCEPT) == htpasswd.manifest_digest
    with upstream.blob(REPO, digest_of(LAYER)) as blob:
        assert digest_of(b"".join(blob)) == digest_of(LAYER)
    with pytest.raises(UpstreamError) as missing:
        upstream.manifest(REPO, "v2", ACCEPT)
    assert missing.value.code == "not_found"


@pytest.mark.parametrize("credentials", [None, (USER, "wr0ng-password"), ("intruder", PASSWORD)])
def test_htpasswd_refuses_missing_or_wrong_credentials(htpasswd, credentials):
    upstream = Upstream(htpasswd.url, credentials)
    for call in (upstream.check, lambda: upstream.manifest(REPO, "v1", ACCEPT),
                 lambda: upstream.blob(REPO, digest_of(LAYER))):
        with pytest.raises(UpstreamError) as denied:
            call()
        assert (denied.value.code, denied.value.status) == ("denied", 401)
        if credentials:
            basic = base64.b64encode(":".join(credentials).encode()).decode()
            assert credentials[1] not in str(denied.value) and basic not in str(denied.value)


def test_tls_with_a_private_ca(tmp_path):
    ca = new_ca(tmp_path / "ca")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    issue_pair(ca, cert, key, ["127.0.0.1"])
    tls = f"  tls:\n    certificate: {cert}\n    key: {key}\n"  # under distribution_config's http:
    daemon, url = _start(tmp_path / "distribution", tls, verify=str(ca.cert_path))
    try:
        digest = _push(url, verify=str(ca.cert_path))
        upstream = Upstream(url.removeprefix("https://"), ca_file=str(ca.cert_path))
        assert upstream.manifest(REPO, "v1", ACCEPT).digest == digest
        with pytest.raises(UpstreamError) as untrusted:
            Upstream(url).check()
        assert untrusted.value.code == "unavailable"
        assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
    finally:
        daemon.stop()


def test_upstream_urls():
    assert Upstream("docker.io").base_url == "https://registry-1.docker.io"
    assert Upstream("quay.io").base_url == "https://quay.io"
    assert Upstream("http://127.0.0.1:5000/").base_url == "http://127.0.0.1:5000"
    for bad in ("https://ghcr.io/v2", "ftp://host", "host:port", "https://host?x=1", ""):
        with pytest.raises(ValueError):
            Upstream(bad)
    with pytest.raises(ValueError) as userinfo:
        Upstream(f"https://{USER}:{PASSWORD}@registry.example")
    assert PASSWORD not in str(userinfo.value)
    upstream = Upstream(f"http://127.0.0.1:{free_port()}")
    for call in (lambda: upstream.manifest("Upper/Case", "v1", ACCEPT),
                 lambda: upstream.manifest("../etc", "v1", ACCEPT),
                 lambda: upstream.manifest(REPO, "a/b", ACCEPT),
                 lambda: upstream.blob(REPO, "sha256:short")):
        with pytest.raises(ValueError):
            call()
