"""Layer operations through the ECR API (boto3 against the full app), and the presigned
download URLs the OCI gate accepts in place of credentials."""
from __future__ import annotations

import hashlib
import os
import json
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from berth.iam import presigned
from berth.iam.tenancy import RegistryAddress
from berth.registry.errors import BlobUnknown
from berth.registry.references import Digest
from tests.support.registry_images import push_image
from tests.unit.api.ecr.support import REGION, grant, repo_fixture, server_fixture

server = server_fixture("ecr-layers")
repo = repo_fixture("layers/")


MIN_PART = 5 * 1024 * 1024  # ECR's parts but the last are at least this long


def _upload(client, repo: str, data: bytes, step: int = MIN_PART) -> str:
    upload_id = client.initiate_layer_upload(repositoryName=repo)["uploadId"]
    for start in range(0, len(data), step):
        part = data[start:start + step]
        done = client.upload_layer_part(repositoryName=repo, uploadId=upload_id,
                                        partFirstByte=start, partLastByte=start + len(part) - 1,
                                        layerPartBlob=part)
        assert done["lastByteReceived"] == start + len(part) - 1
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = client.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                        layerDigests=[digest])
    assert done["layerDigest"] == digest
    return digest


def test_upload_then_check_availability(server, repo):
    client = server.client()
    digest = _upload(client, repo, b"0123456789" * 100)
    bad, missing = "sha256:zz", "sha256:" + "2" * 64
    out = client.batch_check_layer_availability(repositoryName=repo,
                                                layerDigests=[digest, missing, bad])
    assert out["layers"] == [{"layerDigest": digest, "layerAvailability": "AVAILABLE",
                              "layerSize": 1000}]
    assert [(f["layerDigest"], f["failureCode"]) for f in out["failures"]] == [
        (missing, "MissingLayerDigest"), (bad, "InvalidLayerDigest")]
    assert server.state.registry.blobs.stat(repo, Digest.parse(digest)) == 1000


def test_parts_but_the_last_are_at_least_5_mib(server, repo):
    client = server.client()
    data = os.urandom(MIN_PART + 1000)
    digest = _upload(client, repo, data)  # 5 MiB, then 1000 bytes: taken
    assert server.state.registry.blobs.stat(repo, Digest.parse(digest)) == len(data)
    short = data[:MIN_PART - 1] + b"!" + data[MIN_PART:]
    upload_id = client.initiate_layer_upload(repositoryName=repo)["uploadId"]
    for first, last in ((0, MIN_PART - 2), (MIN_PART - 1, len(short) - 1)):
        client.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=first,
                                 partLastByte=last, layerPartBlob=short[first:last + 1])
    digest = "sha256:" + hashlib.sha256(short).hexdigest()
    with pytest.raises(client.exceptions.LayerPartTooSmallException) as refused:
        client.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                     layerDigests=[digest])
    assert refused.value.response["Error"]["Message"].startswith(
        "Layer parts must be at least 5 MiB in size.")
    with pytest.raises(BlobUnknown):
        server.state.registry.blobs.stat(repo, Digest.parse(digest))


def test_upload_refusals(server, repo):
    client = server.client()
    upload_id = client.initiate_layer_upload(repositoryName=repo)["uploadId"]
    with pytest.raises(client.exceptions.EmptyUploadException):
        client.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                     layerDigests=["sha256:" + "3" * 64])
    client.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                             partLastByte=2, layerPartBlob=b"abc")
    with pytest.raises(client.exceptions.InvalidLayerPartException):
        client.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=5,
                                 partLastByte=7, layerPartBlob=b"def")
    with pytest.raises(client.exceptions.InvalidLayerException):
        client.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                     layerDigests=["sha256:" + "3" * 64])
    unknown = "0b6a4ad3-7e6c-4b9e-8d4a-2f3b1c0d9e8f"
    with pytest.raises(client.exceptions.UploadNotFoundException):
        client.upload_layer_part(repositoryName=repo, uploadId=unknown, partFirstByte=0,
                                 partLastByte=0, layerPartBlob=b"x")
    digest = "sha256:" + hashlib.sha256(b"abc").hexdigest()
    client.complete_layer_upload(repositoryName=repo, uploadId=upload_id, layerDigests=[digest])
    again = client.initiate_layer_upload(repositoryName=repo)["uploadId"]
    client.upload_layer_part(repositoryName=repo, uploadId=again, partFirstByte=0,
                             partLastByte=2, layerPartBlob=b"abc")
    with pytest.raises(client.exceptions.LayerAlreadyExistsException):
        client.complete_layer_upload(repositoryName=repo, uploadId=again, layerDigests=[digest])
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.initiate_layer_upload(repositoryName="layers/absent")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_download_url_serves_that_blob_without_credentials(server, repo):
    server.push(repo, "v1", b"downloadable")
    digest = str(Digest.of(b"downloadable"))
    client = server.client()
    out = client.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
    assert out["layerDigest"] == digest
    url = out["downloadUrl"]
    assert urlsplit(url).path == f"/v2/{repo}/blobs/{digest}"
    assert _get(url) == (200, b"downloadable")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    other = str(Digest.of(json.dumps({"architecture": "amd64", "os": "linux"}).encode()))
    assert _get(url.replace(digest, other))[0] == 401  # another blob
    tampered = dict(query, **{presigned.EXPIRES: str(int(query[presigned.EXPIRES]) + 60)})
    assert _get(f"{server.url}{parts.path}?{urlencode(tampered)}")[0] == 401
    request = urllib.request.Request(url, method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401


def test_expired_url_is_refused(server, repo):
    server.push(repo, "v1", b"expiring")
    digest = str(Digest.of(b"expiring"))
    gate = server.state.iam
    address = RegistryAddress(server.account, REGION)
    path = f"/v2/{repo}/blobs/{digest}"
    query = presigned.sign(gate, address, path, server.admin.id, now=1_000_000)
    assert _get(f"{server.url}{path}?{query}")[0] == 401


def test_url_follows_the_key_at_use_time(server, repo):
    server.push(repo, "v1", b"revocable")
    digest = str(Digest.of(b"revocable"))
    key = server.user("layer-reader", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetDownloadUrlForLayer", "Resource": "*"}]})
    url = server.client(key).get_download_url_for_layer(repositoryName=repo,
                                                        layerDigest=digest)["downloadUrl"]
    assert _get(url)[0] == 200
    identities = server.state.iam.identities
    identities.put_user_policy(server.account, "layer-reader", "ecr", json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "ecr:GetDownloadUrlForLayer", "Resource": "*"}]}))
    assert _get(url)[0] == 403
    identities.set_access_key_active(server.account, key.id, False)
    assert _get(url)[0] == 401


def test_download_url_refusals(server, repo):
    client = server.client()
    loose = _upload(client, repo, b"not in any image")
    with pytest.raises(client.exceptions.LayerInaccessibleException):
        client.get_download_url_for_layer(repositoryName=repo, layerDigest=loose)
    with pytest.raises(client.exceptions.LayersNotFoundException):
        client.get_download_url_for_layer(repositoryName=repo, layerDigest="sha256:" + "4" * 64)
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.get_download_url_for_layer(repositoryName="layers/absent",
                                          layerDigest="sha256:" + "4" * 64)


def test_a_download_url_of_a_second_account_works_at_the_plain_host(server):
    """Reached at a plain host, the URL is that host's: it names its registry itself, so
    no registry host name (and no hosts entry) is needed to follow it."""
    account, key = server.account_with_user("layers-team")
    client = server.client(key, region="eu-west-1")
    client.create_repository(repositoryName="layers/team")
    registry = server.state.registry.scoped(
        server.state.iam.registry_id(RegistryAddress(account, "eu-west-1")))
    push_image(registry, "layers/team", "v1", b"of the team")
    digest = str(Digest.of(b"of the team"))
    url = client.get_download_url_for_layer(repositoryName="layers/team",
                                            layerDigest=digest)["downloadUrl"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.url
    query = dict(parse_qsl(parts.query))
    assert query[presigned.REGISTRY] == f"{account}:eu-west-1"
    assert _get(url) == (200, b"of the team")
    moved = dict(query, **{presigned.REGISTRY: f"{server.account}:eu-west-1"})
    assert _get(f"{server.url}{parts.path}?{urlencode(moved)}")[0] == 401  # the MAC covers it


def test_a_download_url_of_another_accounts_registry_names_its_host(server, repo):
    server.push(repo, "v1", b"shared layer")
    digest = str(Digest.of(b"shared layer"))
    account, key = server.account_with_user("layers-reader")
    server.client().set_repository_policy(repositoryName=repo, policyText=grant(
        f"arn:aws:iam::{account}:root", "ecr:GetDownloadUrlForLayer"))
    url = server.client(key).get_download_url_for_layer(
        registryId=server.account, repositoryName=repo, layerDigest=digest)["downloadUrl"]
    port = server.url.rsplit(":", 1)[1]
    assert urlsplit(url).netloc == f"{server.account}.dkr.ecr.{REGION}.localhost:{port}"
    # Followed at that host name (curl resolves *.localhost itself; here: the Host header).
    request = urllib.request.Request(url.replace(urlsplit(url).netloc, f"127.0.0.1:{port}"),
                                     headers={"Host": urlsplit(url).netloc})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.read() == b"shared layer"


def test_a_download_url_from_before_urls_named_their_registry(server, repo):
    """At a plain host it was the default registry's (URLs live 15 minutes)."""
    server.push(repo, "v1", b"older url")
    path = f"/v2/{repo}/blobs/{Digest.of(b'older url')}"
    query = dict(parse_qsl(presigned.sign(server.state.iam, RegistryAddress(
        server.account, REGION), path, server.admin.id)))
    del query[presigned.REGISTRY]
    assert _get(f"{server.url}{path}?{urlencode(query)}") == (200, b"older url")
