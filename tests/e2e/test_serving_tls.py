"""HTTPS end to end: `berth serve --tls self-signed` on a first run (what it prints, and real
clients verifying its certificate: skopeo, podman, docker with certs.d, the aws CLI, boto3),
and a certificate renewed by SIGHUP while a pull is under way (--tls-cert/--tls-key)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from tests.support.containers_storage import ContainersStorage
from tests.support.credentials import admin_key
from tests.support.ecr_login import aws_cli
from tests.support.oci_layout import OciLayout, build_image
from tests.support.oci_push import push_blob
from tests.support.ports import wait_until
from tests.support.skopeo import SKOPEO
from tests.support.berth_node import BerthNode
from tests.support.procs import run
from tests.support.certificates import issue_pair, new_ca

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> BerthNode:
    work = tmp_path_factory.mktemp("tls-self-signed")
    started = BerthNode(work, extra_args=("--tls", "self-signed", "--workers", "1"),
                        tls_ca=work / "data" / "tls" / "trust" / "ca.crt").start()
    yield started
    started.stop()


IMAGE = build_image([{"hello.txt": b"served over https\n"}])


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layout") / "oci"
    OciLayout(path).write(IMAGE.blobs, {"v1": IMAGE.manifest})
    return path


def _host(node: BerthNode) -> str:
    return f"127.0.0.1:{node.port}"


def test_the_first_start_says_how_to_trust_it_log_in_and_push(node):
    log = node.log_text()
    account = node.query("SELECT id FROM accounts WHERE is_admin")[0][0]
    banner = log[log.index("Berth is ready at"):]
    assert f"Berth is ready at https://{_host(node)}" in banner
    assert f"administrator account: {account}" in banner
    assert f"/etc/docker/certs.d/{_host(node)}" in banner
    assert f"--ca-bundle {node.tls_ca}" in banner
    assert f"--password-stdin {_host(node)}" in banner
    assert f"docker push {_host(node)}/REPOSITORY:TAG" in banner
    assert log.count("Berth is ready at") == 1
    # Printed once every worker answers: after the start-up's log lines, not among them.
    assert log.index("blobs: ") < log.index("Berth is ready at")


def test_skopeo_verifies_the_certificate_and_pushes(node, layout, tmp_path):
    dest = f"docker://{_host(node)}/tls/app:v1"
    creds = f"AWS:{node.token}"
    refused = run([SKOPEO, "--insecure-policy", "copy", "--dest-creds", creds,
                   f"oci:{layout}:v1", dest], check=False)
    assert refused.returncode != 0 and "certificate" in refused.stderr  # not trusted blindly
    run([SKOPEO, "--insecure-policy", "copy", "--dest-creds", creds, "--dest-tls-verify=true",
         "--dest-cert-dir", str(node.tls_ca.parent), f"oci:{layout}:v1", dest])
    pulled = tmp_path / "pulled"
    run([SKOPEO, "--insecure-policy", "copy", "--src-creds", creds, "--src-cert-dir",
         str(node.tls_ca.parent), dest, f"dir:{pulled}"])
    layer = pulled / IMAGE.layers[0].digest.split(":", 1)[1]
    assert layer.read_bytes() == IMAGE.layers[0].data


def test_the_aws_cli_and_boto3_verify_with_the_ca_bundle(node, layout):
    run([SKOPEO, "--insecure-policy", "copy", "--dest-creds", f"AWS:{node.token}",
         "--dest-cert-dir", str(node.tls_ca.parent), f"oci:{layout}:v1",
         f"docker://{_host(node)}/tls/cli:v1"])
    key = admin_key(node.data_dir)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **key.env()}
    argv = [aws_cli(), "ecr", "describe-images", "--repository-name", "tls/cli",
            "--endpoint-url", node.url, "--region", "us-east-1"]
    unverified = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert unverified.returncode != 0 and "SSL" in unverified.stderr
    listed = run([*argv, "--ca-bundle", str(node.tls_ca)], env=env)
    assert '"v1"' in listed.stdout
    ecr = boto3.client("ecr", endpoint_url=node.url, region_name="us-east-1",
                       aws_access_key_id=key.id, aws_secret_access_key=key.secret,
                       verify=str(node.tls_ca), config=Config(retries={"max_attempts": 1}))
    found = ecr.describe_repositories(repositoryNames=["tls/cli"])["repositories"][0]
    assert found["repositoryUri"].endswith(f":{node.port}/tls/cli")
    token = ecr.get_authorization_token()["authorizationData"][0]
    assert token["proxyEndpoint"].startswith("https://")


def test_podman_pulls_with_the_cert_dir(node, layout, tmp_path):
    run([SKOPEO, "--insecure-policy", "copy", "--dest-creds", f"AWS:{node.token}",
         "--dest-cert-dir", str(node.tls_ca.parent), f"oci:{layout}:v1",
         f"docker://{_host(node)}/tls/podman:v1"])
    store = ContainersStorage(tmp_path / "store")
    try:
        store.podman("pull", "--tls-verify=true", "--cert-dir", str(node.tls_ca.parent),
                     "--creds", f"AWS:{node.token}", f"{_host(node)}/tls/podman:v1")
        images = store.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        assert f"{_host(node)}/tls/podman:v1" in images
    finally:
        store.cleanup()


def test_docker_logs_in_and_pulls_with_certs_d(node, layout, dockerd):
    run([SKOPEO, "--insecure-policy", "copy", "--dest-creds", f"AWS:{node.token}",
         "--dest-cert-dir", str(node.tls_ca.parent), f"oci:{layout}:v1",
         f"docker://{_host(node)}/tls/docker:v1"])
    certs_d = Path("/etc/docker/certs.d") / _host(node)
    certs_d.mkdir(parents=True, exist_ok=True)
    shutil.copy(node.tls_ca, certs_d / "ca.crt")
    try:
        dockerd.login(_host(node), node.token)
        dockerd.docker("pull", f"{_host(node)}/tls/docker:v1")
        assert "tls/docker" in dockerd.docker("images").stdout
    finally:
        shutil.rmtree(certs_d, ignore_errors=True)
    served = node.log_text()
    assert "GET /v2/{name:path}/manifests/{reference} tls/docker 200" in served  # TLS only


def test_a_restart_names_the_account_and_endpoint_without_the_walkthrough(node):
    node.stop()
    node.start()
    log = node.daemon.log_text()
    assert f"listening on https://{_host(node)} (1 worker)" in log
    assert "Berth is ready at" not in log


# -- renewal ---------------------------------------------------------------------------------

def _served_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            from cryptography import x509
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_sighup_renews_the_certificate_while_a_pull_goes_on(tmp_path):
    ca = new_ca(tmp_path / "ca")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    first = issue_pair(ca, cert, key, ["127.0.0.1", "localhost"])
    node = BerthNode(tmp_path / "node", tls_ca=ca.cert_path,
                     extra_args=("--tls-cert", str(cert), "--tls-key", str(key),
                                 "--workers", "2")).start()
    try:
        assert _served_serial(node.port, ca.cert_path) == first
        blob = os.urandom(48 << 20)
        digest = push_blob(node.session(), node.url, "tls/big", blob, timeout=120)
        response = node.session().get(f"{node.url}/v2/tls/big/blobs/{digest}", stream=True,
                                      timeout=60)
        assert response.status_code == 200
        pieces = response.iter_content(1 << 20)
        received = hashlib.sha256(next(pieces))

        renewed = issue_pair(ca, cert, key, ["127.0.0.1", "localhost"])
        os.kill(node.daemon.pid, signal.SIGHUP)
        assert wait_until(lambda: _served_serial(node.port, ca.cert_path) == renewed, 20), \
            "new connections still get the old certificate"
        for piece in pieces:  # the pull begun under the old certificate finishes
            received.update(piece)
        assert "sha256:" + received.hexdigest() == digest

        key.write_text("not a key\n")  # a broken renewal: reported, the served one kept
        os.kill(node.daemon.pid, signal.SIGHUP)
        assert wait_until(lambda: "certificate not reloaded" in node.log_text(), 20)
        assert _served_serial(node.port, ca.cert_path) == renewed
        assert node.session().get(node.url + "/v2/", timeout=10).status_code == 200
    finally:
        node.stop()


def test_concurrent_pulls_over_tls_all_finish(tmp_path):
    """TLS connections take the plain path (no sendfile, no socket reads off the loop)."""
    ca = new_ca(tmp_path / "ca")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    issue_pair(ca, cert, key, ["127.0.0.1"])
    node = BerthNode(tmp_path / "node", tls_ca=ca.cert_path, extra_args=(
        "--tls-cert", str(cert), "--tls-key", str(key), "--workers", "1")).start()
    try:
        blob = os.urandom(4 << 20)
        digest = push_blob(node.session(), node.url, "tls/many", blob)
        results: list[bool] = []

        def pull() -> None:
            got = node.session().get(f"{node.url}/v2/tls/many/blobs/{digest}", timeout=60)
            results.append(got.status_code == 200 and got.content == blob)

        threads = [threading.Thread(target=pull) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert results == [True] * 8
        with pytest.raises(requests.ConnectionError):  # no plain HTTP on a TLS port
            requests.get(f"http://127.0.0.1:{node.port}/v2/", timeout=5)
    finally:
        node.stop()


def test_the_credential_helper_finds_https_on_a_loopback_host(node, tmp_path):
    """127.0.0.1:<port> named without a scheme: plain HTTP is tried first, then HTTPS."""
    key = admin_key(node.data_dir)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **key.env(),
           "AWS_CA_BUNDLE": str(node.tls_ca), "BERTH_CREDENTIAL_CACHE": str(tmp_path / "c.json")}
    helper = Path(sys.executable).parent / "docker-credential-berth"
    got = subprocess.run([str(helper), "get"], input=_host(node), env=env, capture_output=True,
                         text=True, timeout=120)
    assert got.returncode == 0, got.stdout + got.stderr
    answer = json.loads(got.stdout)
    session = node.session()
    session.auth = (answer["Username"], answer["Secret"])
    assert session.get(node.url + "/v2/", timeout=10).status_code == 200
