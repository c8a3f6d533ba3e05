"""Encryption at rest against real `berth serve` processes: images pushed with skopeo, the data
directory read byte by byte (blobs, uploads, the SQLite database and its WAL) for any piece of
the layers, pulls byte-identical, one stored object per key, KMS repositories on keys made with
`berth admin keys` that disable, enable and rotate -- on one node and across two -- and
storage that encrypts itself (--storage-encrypted) keeping AES256 repositories plain."""
from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.e2e.test_admin_cli import _env, berth
from tests.support.berth_node import BerthNode, new_master_key
from tests.support.berth_server import ecr_client
from tests.support.credentials import admin_key
from tests.support.oci_layout import Image, OciLayout, build_image
from tests.support.oci_push import digest_of, push_image
from tests.support.procs import require_binary
from tests.support.skopeo import SKOPEO, Skopeo

pytestmark = pytest.mark.e2e

PATTERN_BYTES = 300_000  # several 64 KiB segments and a partial one


class Needles:
    """Pieces of some bytes to look for in raw files: every ``stride`` bytes, a window as
    it is and base64-encoded (at each of the three alignments base64 can have)."""

    def __init__(self, data: bytes, stride: int = 8192, width: int = 48):
        self.pieces = []
        for start in range(0, len(data) - width - 2, stride):
            for shift in range(3):
                piece = data[start + shift:start + shift + width]
                self.pieces += [piece, base64.b64encode(piece)]

    def found_in(self, raw: bytes) -> bool:
        return any(piece in raw for piece in self.pieces)


def leaks(root: Path, *blobs: bytes) -> list[str]:
    """Files under ``root`` that hold a piece of any of ``blobs`` in plaintext."""
    needles = [Needles(data) for data in blobs]
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()
                  and any(n.found_in(path.read_bytes()) for n in needles))


def stored_copies(node: BerthNode, digest: str) -> list[str]:
    """Where the blob's objects are, relative to the blob store's data directory."""
    name = digest.split(":")[1]
    root = node.blobs_dir / "data"
    return sorted(str(p.relative_to(root)) for p in root.rglob(name) if p.is_file())


def blob_key(key_ref: str, digest: str) -> str:
    algorithm, hexpart = digest.split(":")
    return "/".join([*([key_ref] if key_ref else []), algorithm, hexpart[:2], hexpart])


def pattern_image() -> Image:
    return build_image([{"srv/pattern.bin": os.urandom(PATTERN_BYTES)}])


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    found = BerthNode(tmp_path_factory.mktemp("at-rest")).start()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def skopeo(node, tmp_path_factory) -> Skopeo:
    require_binary(SKOPEO)
    client = Skopeo(tmp_path_factory.mktemp("skopeo-at-rest"))
    client.login(f"127.0.0.1:{node.port}", node.token)
    return client


@pytest.fixture(scope="module")
def admin(node):
    """``berth admin ...`` online against the node, as its administrator."""
    env = _env(AWS_SHARED_CREDENTIALS_FILE=str(node.data_dir / "admin-credentials"))

    def run(*args: str, status: int = 0):
        return berth(*args, "--endpoint-url", node.url, "--profile", "berth-admin", env=env,
                     status=status)
    return run


@pytest.fixture(scope="module")
def account(node) -> str:
    return node.query("SELECT id FROM accounts WHERE is_admin")[0][0]


def push(skopeo: Skopeo, node: BerthNode, image: Image, repo: str, tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / f"push-{repo.replace('/', '-')}").write(
        image.blobs, {"v1": image.manifest})
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://127.0.0.1:{node.port}/{repo}:v1",
                "--preserve-digests")


def pull(skopeo: Skopeo, node: BerthNode, repo: str, tmp_path: Path, check: bool = True):
    """The pulled layout, or skopeo's failed process when ``check`` is false."""
    out = tmp_path / f"pull-{repo.replace('/', '-')}-{os.urandom(4).hex()}"
    args = ("copy", "--src-tls-verify=false", f"docker://127.0.0.1:{node.port}/{repo}:v1",
            f"oci:{out}:v1")
    if not check:
        return skopeo(*args, check=False)
    skopeo(*args)
    return OciLayout(out)


def assert_pulls_identical(skopeo, node, image: Image, repo: str, tmp_path: Path) -> None:
    layout = pull(skopeo, node, repo, tmp_path)
    for blob in (image.config, *image.layers):
        assert layout.blob(blob.digest) == blob.data


def test_aes256_repositories_store_no_plaintext_and_share_one_object(node, skopeo, tmp_path):
    image = pattern_image()
    layer = image.layers[0]
    for repo in ("aes/one", "aes/two"):
        push(skopeo, node, image, repo, tmp_path)
    assert leaks(node.data_dir, layer.data, image.config.data) == []
    assert stored_copies(node, layer.digest) == [blob_key("aes256", layer.digest)]
    for repo in ("aes/one", "aes/two"):
        assert_pulls_identical(skopeo, node, image, repo, tmp_path)
    assert node.query("SELECT key_ref FROM repositories WHERE name = ?", "aes/one") == [
        ("aes256",)]


def test_an_upload_in_progress_leaves_no_plaintext(node):
    data = os.urandom(100_000)  # a full segment and a partial one, sealed in the upload state
    r = requests.post(f"{node.url}/v2/aes/chunked/blobs/uploads/", auth=node.auth)
    assert r.status_code == 202, r.text
    location = urljoin(node.url, r.headers["Location"])
    r = requests.patch(location, data=data[:90_000], auth=node.auth,
                       headers={"Content-Range": "0-89999"})
    assert r.status_code == 202, r.text
    assert leaks(node.data_dir, data) == []
    r = requests.put(location, params={"digest": digest_of(data)}, data=data[90_000:],
                     auth=node.auth)
    assert r.status_code == 201, r.text
    assert leaks(node.data_dir, data) == []
    r = requests.get(f"{node.url}/v2/aes/chunked/blobs/{digest_of(data)}", auth=node.auth)
    assert r.content == data


def test_a_kms_repository_under_a_key_that_disables_enables_and_rotates(
        node, skopeo, admin, account, tmp_path):
    key = admin("keys", "create", "--account", account, "--description", "e2e")[
        "KeyMetadata"]
    ecr = ecr_client(node.url, admin_key(node.data_dir))
    made = ecr.create_repository(repositoryName="kms/app", encryptionConfiguration={
        "encryptionType": "KMS", "kmsKey": key["KeyId"]})["repository"]
    assert made["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key["Arn"]}
    image = pattern_image()
    layer = image.layers[0]
    push(skopeo, node, image, "aes/plain", tmp_path)
    push(skopeo, node, image, "kms/app", tmp_path)
    copies = stored_copies(node, layer.digest)
    assert [c.split("/")[0] for c in copies] == ["aes256", f"kms-{key['KeyId']}"]
    assert leaks(node.data_dir, layer.data) == []
    assert_pulls_identical(skopeo, node, image, "kms/app", tmp_path)

    admin("keys", "disable", "--account", account, key["KeyId"])
    refused = pull(skopeo, node, "kms/app", tmp_path, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    # skopeo shows only the status of a refused blob; the body names the key and why:
    r = requests.get(f"{node.url}/v2/kms/app/blobs/{layer.digest}", auth=node.auth)
    assert r.status_code == 403, r.text
    [error] = r.json()["errors"]
    assert error["code"] == "DENIED" and key["Arn"] in error["message"]
    assert "disabled" in error["message"]
    r = requests.post(f"{node.url}/v2/kms/app/blobs/uploads/", auth=node.auth)  # no pushes
    assert r.status_code == 403 and key["Arn"] in r.json()["errors"][0]["message"], r.text
    with pytest.raises(ecr.exceptions.KmsException) as caught:
        ecr.get_download_url_for_layer(repositoryName="kms/app", layerDigest=layer.digest)
    assert caught.value.response["kmsError"] == "DisabledException"
    with pytest.raises(ecr.exceptions.KmsException):
        ecr.initiate_layer_upload(repositoryName="kms/app")
    assert_pulls_identical(skopeo, node, image, "aes/plain", tmp_path)  # others unaffected

    admin("keys", "enable", "--account", account, key["Arn"])
    assert_pulls_identical(skopeo, node, image, "kms/app", tmp_path)

    rotated = admin("keys", "rotate", "--account", account, key["KeyId"])["KeyMetadata"]
    assert rotated["KeyVersion"] == 2
    newer = pattern_image()
    layout = OciLayout(tmp_path / "newer").write(newer.blobs, {"v2": newer.manifest})
    skopeo.copy(f"oci:{layout.path}:v2", f"docker://127.0.0.1:{node.port}/kms/app:v2",
                "--preserve-digests")
    assert leaks(node.data_dir, newer.layers[0].data) == []
    assert_pulls_identical(skopeo, node, image, "kms/app", tmp_path)  # sealed before
    for blob in newer.layers:  # and after the rotation
        r = requests.get(f"{node.url}/v2/kms/app/blobs/{blob.digest}", auth=node.auth)
        assert r.content == blob.data


def test_storage_that_encrypts_itself_keeps_aes256_repositories_plain(tmp_path):
    node = BerthNode(tmp_path / "sse", extra_args=("--storage-encrypted",)).start()
    try:
        layer = os.urandom(PATTERN_BYTES)
        push_image(node.session(), node.url, "aes/app", "v1", b"{}", [layer])
        assert stored_copies(node, digest_of(layer)) == [blob_key("", digest_of(layer))]
        assert node.blob_bytes(digest_of(layer)) == layer  # the storage's to encrypt
        # (and the search for plaintext finds it: it is no blind check)
        assert leaks(node.data_dir, layer) == [f"blobs/data/{blob_key('', digest_of(layer))}"]
        account = node.query("SELECT id FROM accounts WHERE is_admin")[0][0]
        env = _env(AWS_SHARED_CREDENTIALS_FILE=str(node.data_dir / "admin-credentials"))
        key = berth("keys", "create", "--account", account, "--endpoint-url", node.url,
                    "--profile", "berth-admin", env=env)["KeyMetadata"]
        ecr_client(node.url, admin_key(node.data_dir)).create_repository(
            repositoryName="kms/app",
            encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key["Arn"]})
        push_image(node.session(), node.url, "kms/app", "v1", b"{}", [layer])
        sealed = node.blob_bytes(digest_of(layer), f"kms-{key['KeyId']}")
        assert sealed is not None and not Needles(layer).found_in(sealed)  # KMS: always
    finally:
        node.stop()


def test_a_key_disabled_through_one_node_is_refused_by_the_other_at_once(tmp_path, postgres):
    url, blobs = postgres.create_database(), tmp_path / "blobs"
    env = {"BERTH_MASTER_KEY": new_master_key()}
    a = BerthNode(tmp_path / "a", database_url=url, blobs_dir=blobs, env=env).start()
    b = BerthNode(tmp_path / "b", database_url=url, blobs_dir=blobs, env=env,
                  credentials_dir=a.data_dir).start()
    try:
        account = a.query("SELECT id FROM accounts WHERE is_admin")[0][0]
        admin_env = _env(AWS_SHARED_CREDENTIALS_FILE=str(a.data_dir / "admin-credentials"))

        def admin(*args: str) -> dict:
            return berth(*args, "--account", account, "--endpoint-url", a.url, "--profile",
                         "berth-admin", env=admin_env)

        key = admin("keys", "create")["KeyMetadata"]
        ecr_client(a.url, admin_key(a.data_dir)).create_repository(
            repositoryName="kms/app",
            encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key["KeyId"]})
        layer = os.urandom(PATTERN_BYTES)
        push_image(a.session(), a.url, "kms/app", "v1", b"{}", [layer])
        blob_url = f"{b.url}/v2/kms/app/blobs/{digest_of(layer)}"
        assert requests.get(blob_url, auth=b.auth).content == layer  # b has the key cached
        admin("keys", "disable", key["KeyId"])
        r = requests.get(blob_url, auth=b.auth)
        assert r.status_code == 403 and key["Arn"] in r.json()["errors"][0]["message"]
        admin("keys", "enable", key["KeyId"])
        assert requests.get(blob_url, auth=b.auth).content == layer
    finally:
        for node in (a, b):
            node.stop()
