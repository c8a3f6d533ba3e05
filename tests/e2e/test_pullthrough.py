"""Pull-through cache on a running ``berth serve``: CNCF Distribution (Debian's
docker-registry, with and without htpasswd) and another Berth as upstreams, pulled through
with skopeo and docker. The first pull fetches (and imports in the background), later pulls
are served locally (the upstream's request log says so; the account's webhook is told of the
import, an "ECR Pull Through Cache Action"), a tag moved upstream is seen once the refresh
interval has passed, and with the upstream stopped the cached image is still pulled."""
from __future__ import annotations

import hashlib
import json
import re
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.credentials import AccessKey, admin_key
from tests.support.distribution import start_distribution
from tests.support.ecr_login import get_login_password
from tests.support.oci_layout import OciLayout, build_image, build_index
from tests.support.oci_push import OCI_MANIFEST
from tests.support.ports import wait_until
from tests.support.skopeo import Skopeo
from tests.support.tarballs import make_tar
from tests.support.tenants import aws, berth_admin
from tests.support.webhooks import Webhooks, wait_for

pytestmark = pytest.mark.e2e

REFRESH_SECONDS = 5


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("pullthrough"),
                     env={"BERTH_PULLTHROUGH_REFRESH_SECONDS": str(REFRESH_SECONDS)}).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def webhooks():
    with Webhooks() as made:
        yield made


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    registry = start_distribution(tmp_path_factory.mktemp("upstream"))
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def skopeo(node, tmp_path_factory):
    skopeo = Skopeo(tmp_path_factory.mktemp("skopeo"))
    skopeo.login(f"127.0.0.1:{node.port}", get_login_password(node.url, admin_key(node.data_dir)))
    return skopeo


def _push_upstream(skopeo: Skopeo, workdir: Path, ref: str, files: dict, creds=None):
    image = build_image([files])
    layout = OciLayout(workdir / f"push-{abs(hash((ref, str(files))))}").write(
        image.blobs, {"latest": image.manifest})
    more = ["--dest-creds", ":".join(creds)] if creds else []
    skopeo.copy(f"oci:{layout.path}:latest", f"docker://{ref}", "--preserve-digests",
                "--dest-tls-verify=false", *more)
    return image


def _pull(skopeo: Skopeo, workdir: Path, ref: str) -> OciLayout | None:
    target = workdir / f"pull-{abs(hash((ref, str(workdir))))}-{len(list(workdir.iterdir()))}"
    done = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{target}:v",
                  check=False)
    return OciLayout(target) if done.returncode == 0 else None


def _same(layout: OciLayout | None, image) -> bool:
    return (layout is not None and layout.ref("v")["digest"] == image.manifest.digest
            and all(layout.blob(b.digest) == b.data for b in image.blobs))


def _rule(node, prefix: str, url: str, credential_arn: str | None = None) -> None:
    # As JSON: aws CLI v1 fetches a parameter that starts with http:// (cli_follow_urlparam).
    rule = {"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": url}
    if credential_arn:
        rule["credentialArn"] = credential_arn
    aws(node, admin_key(node.data_dir), "create-pull-through-cache-rule",
        "--cli-input-json", json.dumps(rule))


def _imported(node, repository: str, digest: str, tag: str) -> bool:
    listed = aws(node, admin_key(node.data_dir), "list-images", "--repository-name",
                 repository)["imageIds"]
    return {"imageDigest": digest, "imageTag": tag} in listed


def test_the_first_pull_fetches_and_later_pulls_are_served_locally(node, upstream, skopeo,
                                                                    webhooks, tmp_path):
    image = _push_upstream(skopeo, tmp_path, f"{upstream.host}/library/app:v1",
                           {"app.txt": b"first pull" * 50_000})
    _rule(node, "hub", upstream.url)
    receiver = webhooks.watch(node, "ECR Pull Through Cache Action")
    here = f"127.0.0.1:{node.port}/hub/library/app"
    assert _same(_pull(skopeo, tmp_path, f"{here}:v1"), image)
    # The import (a job) makes it an image of the repository the pull created.
    assert wait_until(lambda: _imported(node, "hub/library/app", image.manifest.digest, "v1"),
                      30)
    fetched = (upstream.requests_for("GET", "/manifests/"),
               upstream.requests_for("GET", "/blobs/"))
    assert _same(_pull(skopeo, tmp_path, f"{here}:v1"), image)
    assert _same(_pull(skopeo, tmp_path, f"{here}@{image.manifest.digest}"), image)
    assert (upstream.requests_for("GET", "/manifests/"),
            upstream.requests_for("GET", "/blobs/")) == fetched
    # Each blob came from the upstream once: the client's fetch and the import shared them.
    assert fetched[1] == len([b for b in image.blobs if b.digest != image.manifest.digest])
    [told] = wait_for(receiver, "ECR Pull Through Cache Action")
    assert told["resources"] == [
        f"arn:aws:ecr:us-east-1:{told['account']}:repository/hub/library/app"]
    assert told["detail"] == {
        "rule-version": "1", "sync-status": "SUCCESS", "ecr-repository-prefix": "hub",
        "repository-name": "hub/library/app", "upstream-registry-url": upstream.url,
        "image-tag": "v1", "image-digest": image.manifest.digest}


def test_a_tag_moved_upstream_is_seen_after_the_refresh_interval(node, upstream, skopeo,
                                                                 tmp_path):
    _rule(node, "moving", upstream.url)
    first = _push_upstream(skopeo, tmp_path, f"{upstream.host}/team/svc:latest",
                           {"v": b"one"})
    here = f"127.0.0.1:{node.port}/moving/team/svc:latest"
    checked = time.monotonic()
    assert _same(_pull(skopeo, tmp_path, here), first)
    second = _push_upstream(skopeo, tmp_path, f"{upstream.host}/team/svc:latest",
                            {"v": b"two"})
    if time.monotonic() - checked < REFRESH_SECONDS - 1:  # (a slow machine may be past it)
        assert _same(_pull(skopeo, tmp_path, here), first)  # within the interval: cached
    assert wait_until(lambda: _same(_pull(skopeo, tmp_path, here), second),
                      REFRESH_SECONDS * 5, 1)


def test_with_the_upstream_down_the_cached_image_is_still_pulled(node, skopeo, tmp_path):
    down = start_distribution(tmp_path / "down")
    try:
        _rule(node, "flaky", down.url)
        image = _push_upstream(skopeo, tmp_path, f"{down.host}/lib/tool:1", {"t": b"tool"})
        here = f"127.0.0.1:{node.port}/flaky/lib/tool"
        assert _same(_pull(skopeo, tmp_path, f"{here}:1"), image)
        assert wait_until(lambda: _imported(node, "flaky/lib/tool", image.manifest.digest,
                                            "1"), 30)
    finally:
        down.stop()
    wait_until(lambda: False, REFRESH_SECONDS + 1)  # the tag is due for its refresh now
    assert _same(_pull(skopeo, tmp_path, f"{here}:1"), image)
    assert "serving the cached image" in node.log_text()
    stale = re.compile(r'berth_pullthrough_upstream_total\{outcome="stale",what="refresh"\} '
                       r'[1-9]')
    assert wait_until(lambda: stale.search(requests.get(  # counts are flushed now and then
        node.url + "/metrics", auth=node.auth, timeout=30).text), 30, 0.5)
    # Nothing cached under another tag: the failure is the pull's (503, not a hang or 500).
    assert _pull(skopeo, tmp_path, f"{here}:2") is None


def test_an_upstream_behind_htpasswd_with_the_rules_secret(node, skopeo, tmp_path):
    guarded = start_distribution(tmp_path / "guarded", credentials=("puller", "s3cret-pw"))
    try:
        image = _push_upstream(skopeo, tmp_path, f"{guarded.host}/private/app:v2",
                               {"p": b"private"}, creds=("puller", "s3cret-pw"))
        account = aws(node, admin_key(node.data_dir), "describe-registry")["registryId"]
        right, wrong = tmp_path / "right.json", tmp_path / "wrong.json"
        right.write_text(json.dumps({"username": "puller", "accessToken": "s3cret-pw"}))
        wrong.write_text(json.dumps({"username": "puller", "accessToken": "nope"}))
        arns = {name: berth_admin(node, "secrets", "put", f"ecr-pullthroughcache/{name}",
                                  "--secret-file", str(path), "--account", account
                                  )["Secret"]["ARN"]
                for name, path in (("right", right), ("wrong", wrong))}
        _rule(node, "guarded", guarded.url, arns["right"])
        _rule(node, "refused", guarded.url, arns["wrong"])
        admin = admin_key(node.data_dir)
        assert aws(node, admin, "validate-pull-through-cache-rule",
                   "--ecr-repository-prefix", "guarded")["isValid"] is True
        refused = aws(node, admin, "validate-pull-through-cache-rule",
                      "--ecr-repository-prefix", "refused")
        assert refused["isValid"] is False and "credentials" in refused["failure"]
        assert _same(_pull(skopeo, tmp_path,
                           f"127.0.0.1:{node.port}/guarded/private/app:v2"), image)
        assert _pull(skopeo, tmp_path, f"127.0.0.1:{node.port}/refused/private/app:v2") is None
        described = aws(node, admin, "describe-pull-through-cache-rules")
        assert "s3cret-pw" not in json.dumps(described)
    finally:
        guarded.stop()
    assert "s3cret-pw" not in node.log_text()


def test_another_berth_as_the_upstream(node, skopeo, tmp_path):
    other = BerthNode(tmp_path / "other").start()
    try:
        (tmp_path / "other-skopeo").mkdir()
        other_skopeo = Skopeo(tmp_path / "other-skopeo")
        other_skopeo.login(f"127.0.0.1:{other.port}", other.token)
        aws(other, admin_key(other.data_dir), "create-repository", "--repository-name",
            "base/os")
        image = _push_upstream(other_skopeo, tmp_path, f"127.0.0.1:{other.port}/base/os:12",
                               {"etc/os-release": b"ID=berth\n"})
        account = aws(node, admin_key(node.data_dir), "describe-registry")["registryId"]
        secret = tmp_path / "other.json"
        # Its access key, not a registry password: the cache logs in with its ECR API and
        # renews the login as it expires (a password from get-login-password lasts 12 h).
        key = admin_key(other.data_dir)
        secret.write_text(json.dumps({"accessKeyId": key.id, "secretAccessKey": key.secret}))
        arn = berth_admin(node, "secrets", "put", "ecr-pullthroughcache/other-berth",
                          "--secret-file", str(secret), "--account", account)["Secret"]["ARN"]
        _rule(node, "site-b", other.url, arn)
        assert _same(_pull(skopeo, tmp_path, f"127.0.0.1:{node.port}/site-b/base/os:12"),
                     image)
        assert key.secret not in node.log_text()
    finally:
        other.stop()


def test_pulling_through_needs_the_import_permission_caching_does_not(node, upstream, skopeo,
                                                                      tmp_path):
    _rule(node, "perm", upstream.url)
    image = _push_upstream(skopeo, tmp_path, f"{upstream.host}/lib/perm:1", {"x": b"perm"})
    reader_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability"], "Resource": "*"}]}
    account = aws(node, admin_key(node.data_dir), "describe-registry")["registryId"]
    berth_admin(node, "users", "create", "--account", account, "reader")
    berth_admin(node, "policies", "put", "--account", account, "--user", "reader",
                "--name", "read", "--document", json.dumps(reader_policy))
    made = berth_admin(node, "access-keys", "create", "--account", account, "--user", "reader")
    key = AccessKey(made["AccessKey"]["AccessKeyId"], made["AccessKey"]["SecretAccessKey"])
    (tmp_path / "reader").mkdir()
    reader = Skopeo(tmp_path / "reader")
    reader.login(f"127.0.0.1:{node.port}", get_login_password(node.url, key))
    here = f"127.0.0.1:{node.port}/perm/lib/perm:1"
    assert _pull(reader, tmp_path, here) is None  # would create and import: refused
    assert _same(_pull(skopeo, tmp_path, here), image)  # the administrator may
    assert _same(_pull(reader, tmp_path, here), image)  # cached: a reader pulls it


def test_an_index_is_imported_with_every_platform(node, upstream, skopeo, tmp_path):
    images = [build_image([{"arch": arch.encode()}], architecture=arch)
              for arch in ("amd64", "arm64")]
    index = build_index(images)
    layout = OciLayout(tmp_path / "multi").write(
        [b for image in images for b in image.blobs] + [index], {"v1": index})
    skopeo.copy(f"oci:{layout.path}:v1", f"docker://{upstream.host}/multi/app:v1", "--all",
                "--preserve-digests", "--dest-tls-verify=false")
    _rule(node, "multi-cache", upstream.url)
    here = f"127.0.0.1:{node.port}/multi-cache/multi/app:v1"
    pulled = _pull(skopeo, tmp_path, here)  # the client takes its own platform only
    assert pulled is not None and pulled.ref("v")["digest"] == images[0].manifest.digest
    assert wait_until(lambda: _imported(node, "multi-cache/multi/app", index.digest, "v1"), 30)
    listed = aws(node, admin_key(node.data_dir), "list-images", "--repository-name",
                 "multi-cache/multi/app")["imageIds"]
    assert {i.manifest.digest for i in images} <= {i["imageDigest"] for i in listed}


def test_concurrent_pulls_of_a_missing_blob_fetch_it_once(node, upstream, skopeo, tmp_path):
    layer = os.urandom(24 << 20)
    image = _push_upstream(skopeo, tmp_path, f"{upstream.host}/big/blob:1",
                           {"big.bin": layer})
    _rule(node, "once", upstream.url)
    session = node.session()
    base = f"{node.url}/v2/once/big/blob"
    manifest = session.get(f"{base}/manifests/1", headers={"Accept": OCI_MANIFEST})
    assert manifest.status_code == 200, manifest.text
    digest = manifest.json()["layers"][0]["digest"]

    def pull(_):
        got = session.get(f"{base}/blobs/{digest}", timeout=120)
        return got.status_code, "sha256:" + hashlib.sha256(got.content).hexdigest()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(pull, range(4)))
    assert answers == [(200, digest)] * 4
    assert wait_until(lambda: _imported(node, "once/big/blob", image.manifest.digest, "1"), 60)
    assert upstream.requests_for("GET", f"/blobs/{digest}") == 1


def test_an_import_killed_midway_finishes_after_the_restart(skopeo, tmp_path):
    """SIGKILL once the manifest was served (the import queued, perhaps under way): after the
    restart the job runs again and the whole image is cached, pulled with the upstream gone."""
    source = start_distribution(tmp_path / "kill-upstream")
    node = BerthNode(tmp_path / "kill-node", env={"BERTH_JOB_LEASE_SECONDS": "5"}).start()
    try:
        image = _push_upstream(skopeo, tmp_path, f"{source.host}/big/app:1",
                               {"big.bin": os.urandom(48 << 20)})
        _rule(node, "killed", source.url)
        served = node.session().get(f"{node.url}/v2/killed/big/app/manifests/1",
                                    headers={"Accept": OCI_MANIFEST}, timeout=60)
        assert served.status_code == 200, served.text
        node.kill()
        node.start()
        assert wait_until(lambda: _imported(node, "killed/big/app", image.manifest.digest, "1"),
                          120, 1)
        source.stop()
        puller = Skopeo(tmp_path)
        puller.login(f"127.0.0.1:{node.port}", node.token)
        assert _same(_pull(puller, tmp_path, f"127.0.0.1:{node.port}/killed/big/app:1"), image)
    finally:
        node.stop()
        source.stop()


def test_docker_pulls_through_the_cache(node, upstream, skopeo, dockerd, tmp_path):
    """docker's own pull (HEAD of the tag, the manifest by digest, blobs in parallel) through
    a cache that has nothing yet: the image it gets is the upstream's."""
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(make_tar({"hello.txt": b"pulled through the cache by docker\n"}))
    source = f"{upstream.host}/docker/hello:1"
    image_id = dockerd.docker("import", str(tarball), source).stdout.strip()
    dockerd.docker("push", source)  # Distribution on loopback: docker needs no login there
    dockerd.docker("rmi", "--force", image_id)
    _rule(node, "dockerhub", upstream.url)
    here = f"127.0.0.1:{node.port}"
    dockerd.login(here, node.token)
    try:
        dockerd.docker("pull", f"{here}/dockerhub/docker/hello:1")
        pulled = dockerd.docker("image", "inspect", "--format", "{{.Id}}",
                                f"{here}/dockerhub/docker/hello:1").stdout.strip()
        assert pulled == image_id
        dockerd.docker("rmi", "--force", image_id)
    finally:
        dockerd.logout(here, check=False)
