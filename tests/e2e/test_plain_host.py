"""Addressing without DNS: plain ``127.0.0.1:<port>`` is the caller's own registry (its
account, the region its token was minted in). A second account made with ``berth admin``
logs in the ECR way and pushes with skopeo, no hosts entry anywhere; the image is its own,
the ``repositoryUri`` and ``proxyEndpoint`` it is given are the plain host it used, and
another account's repository is not there for it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.berth_server import running_node
from tests.support.credentials import AccessKey, admin_key, basic
from tests.support.ecr_login import get_login_password
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo
from tests.support.tenants import aws, new_account

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"  # not the default region: the token's region is what counts


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[BerthNode]:
    with running_node(tmp_path_factory.mktemp("plain-host")) as node:
        yield node


@pytest.fixture(scope="module")
def team(node: BerthNode, tmp_path_factory) -> dict:
    """Account B's user, logged in at the plain host with ``aws ecr get-login-password``."""
    account, key = new_account(node, "team-b")
    token = get_login_password(node.url, key, REGION)
    skopeo = Skopeo(tmp_path_factory.mktemp("team-skopeo"))
    skopeo.login(_host(node), token)
    return {"account": account, "key": key, "token": token, "skopeo": skopeo}


def _host(node: BerthNode) -> str:
    return f"127.0.0.1:{node.port}"


def _push(skopeo: Skopeo, workdir: Path, ref: str, text: bytes) -> str:
    image = build_image([{"file.txt": text}])
    layout = OciLayout(workdir / f"layout-{abs(hash(ref))}").write(
        image.blobs, {"latest": image.manifest})
    skopeo.copy(f"oci:{layout.path}:latest", f"docker://{ref}", "--preserve-digests")
    return image.manifest.digest


def _images(node: BerthNode, key: AccessKey, repository: str, region: str = REGION):
    return aws(node, key, "describe-images", "--repository-name", repository, region=region)


def test_a_second_account_pushes_to_its_own_registry_at_the_plain_host(node, team, tmp_path):
    # Its pushes make repositories under team/ (its registry has no template of its own).
    aws(node, team["key"], "create-repository-creation-template", "--prefix", "team",
        "--applied-for", "CREATE_ON_PUSH", region=REGION)
    digest = _push(team["skopeo"], tmp_path, f"{_host(node)}/team/app:v1", b"team b's\n")
    [image] = _images(node, team["key"], "team/app")["imageDetails"]
    assert (image["imageDigest"], image["registryId"]) == (digest, team["account"])
    # Not the default account's registry, nor B's own in another region.
    for key, region in ((admin_key(node.data_dir), "us-east-1"), (team["key"], "us-east-1")):
        error = aws(node, key, "describe-images", "--repository-name", "team/app",
                    region=region, fails=True)
        assert "RepositoryNotFoundException" in error


def test_the_uris_it_is_given_are_the_plain_host_it_used(node, team, tmp_path):
    [data] = aws(node, team["key"], "get-authorization-token",
                 region=REGION)["authorizationData"]
    assert data["proxyEndpoint"] == node.url
    made = aws(node, team["key"], "create-repository", "--repository-name", "team/made",
               region=REGION)["repository"]
    assert made["repositoryUri"] == f"{_host(node)}/team/made"
    digest = _push(team["skopeo"], tmp_path, made["repositoryUri"] + ":v1", b"by its URI\n")
    [image] = _images(node, team["key"], "team/made")["imageDetails"]
    assert image["imageDigest"] == digest


def test_another_accounts_repository_is_unknown_at_the_plain_host(node, team, tmp_path):
    (tmp_path / "admin").mkdir()
    admin = Skopeo(tmp_path / "admin")
    admin.login(_host(node), node.token)
    _push(admin, tmp_path, f"{_host(node)}/only/admin:v1", b"the administrator's\n")
    pulled = team["skopeo"]("copy", "--src-tls-verify=false",
                            f"docker://{_host(node)}/only/admin:v1", f"oci:{tmp_path / 'b'}:v1",
                            check=False)
    assert pulled.returncode != 0 and "name unknown" in pulled.stderr.lower(), pulled.stderr
    answer = requests.get(f"{node.url}/v2/only/admin/manifests/v1", timeout=30,
                          headers={"Authorization": basic(team["token"])})
    assert answer.status_code == 404, answer.text
    assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # The administrator still has it, at the same plain host.
    assert admin.inspect(f"docker://{_host(node)}/only/admin:v1")["Digest"].startswith("sha256:")
