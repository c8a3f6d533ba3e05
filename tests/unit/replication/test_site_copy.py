"""Replication into another Berth deployment, in process: two full apps on loopback ports (the
source, and the site with a data directory and database of its own), the source's copier
driven step by step as tests/unit/replication/test_replication.py drives it, with the
SiteCopier the worker wires. The image arrives byte for byte; a second copy sends no blob;
deleteReplication removes images and tags there; a refused key fails the task
(ACCESS_DENIED), a site that is down raises what the job retries."""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from berth.events import Outbox
from berth.jobs.queue import JobQueue
from berth.registry.images.format import OCI_INDEX, OCI_MANIFEST
from berth.registry.references import Digest
from berth.replication.copy import Copier, ReplicationRefused, Task
from berth.replication.remote import Remote, SiteCopier
from berth.replication.sites import Sites
from berth.replication.tasks import run_lane, subscriber
from berth.storage.metadata import manifests as manifest_rows
from berth.storage.metadata import replication as task_rows
from tests.unit.api.ecr.support import REGION, Server, full_app

WRONG_KEY_SITE, DOWN_SITE = "444455556666", "555566667777"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    with full_app(tmp_path_factory.mktemp("site-source")) as source, \
            full_app(tmp_path_factory.mktemp("site-b")) as site:
        assert source.account != site.account
        arn = _secret(source, "replication/site-b", site.admin.id, site.admin.secret)
        _sites(source).put(site.account, site.url, arn)
        yield source, site


@pytest.fixture
def source(pair) -> Server:
    return pair[0]


@pytest.fixture
def site(pair) -> Server:
    return pair[1]


def _secret(source: Server, name: str, key_id: str, key: str) -> str:
    value = json.dumps({"accessKeyId": key_id, "secretAccessKey": key})
    return source.state.registry.secrets.put(source.account, REGION, name, value).arn


def _sites(source: Server) -> Sites:
    reg = source.state.registry
    return Sites(reg.db, reg.registry_id, reg.secrets.resolve)


def _copier(source: Server) -> Copier:
    """As berth.replication.tasks.register wires it."""
    reg = source.state.registry
    return Copier(reg, SiteCopier(reg, reg.secrets.resolve))


def _replicate(source: Server, copier: Copier | None = None) -> int:
    """Deliver the outbox to the subscriber, then copy every lane; how many tasks ran."""
    db = source.state.registry.db
    Outbox(db).deliver(subscriber(JobQueue(db)))
    copier, ran = copier or _copier(source), 0
    with db.read() as tx:
        lanes = task_rows.open_lanes(tx, float("inf"))
    for lane in lanes:
        ran += run_lane(db, copier, lane, "test-worker")
    return ran


def _configure(source: Server, site: Server, deletes: bool = False) -> None:
    rule = {"destinations": [{"region": REGION, "registryId": site.account}]}
    if deletes:
        rule["deleteReplication"] = {"enabled": True}
    source.client().put_replication_configuration(replicationConfiguration={"rules": [rule]})


@pytest.fixture(autouse=True)
def _no_rules_after(pair):
    yield
    source = pair[0]
    source.client().put_replication_configuration(replicationConfiguration={"rules": []})
    _replicate(source)


def _status(source: Server, repository: str, tag: str) -> list[dict]:
    return source.client().describe_image_replication_status(
        repositoryName=repository, imageId={"imageTag": tag})["replicationStatuses"]


def _manifest(server: Server, repository: str, reference: str) -> bytes:
    reg = server.state.registry
    row = manifest_rows.lookup(reg.db, reg.registry_id, repository, reference,
                               not reference.startswith("sha256:"), True)
    return bytes(row.content)


def _blob(server: Server, repository: str, data: bytes) -> bytes:
    reg = server.state.registry
    found = reg.blobs.find(repository, Digest.of(data))
    return b"".join(reg.blobs.read(found, 0, found.size))


def _images(server: Server, repository: str) -> dict[str, list[str]]:
    return {i["imageDigest"]: sorted(i.get("imageTags", [])) for i in server.client(
        ).describe_images(repositoryName=repository)["imageDetails"]}


@pytest.fixture
def requests_sent(monkeypatch) -> list[tuple[str, str]]:
    """(method, path without the query) of every OCI request a Remote sends."""
    sent: list[tuple[str, str]] = []
    original = Remote.request

    def recorded(self, region, method, path, *args, **kwargs):
        sent.append((method, path.split("?")[0]))
        return original(self, region, method, path, *args, **kwargs)
    monkeypatch.setattr(Remote, "request", recorded)
    return sent


def test_an_image_arrives_at_the_site_byte_for_byte(source, site):
    _configure(source, site)
    layer = b"to the second site, byte for byte" * 1000
    digest = source.push("dr/app", "v1", layer)
    assert _replicate(source) == 1
    assert _status(source, "dr/app", "v1") == [
        {"region": REGION, "registryId": site.account, "status": "COMPLETE"}]
    assert _images(site, "dr/app") == {digest: ["v1"]}
    assert _manifest(site, "dr/app", "v1") == _manifest(source, "dr/app", digest)
    assert _blob(site, "dr/app", layer) == layer
    [image] = site.client().batch_get_image(repositoryName="dr/app",
                                            imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageManifest"].encode() == _manifest(source, "dr/app", digest)


def test_a_second_copy_sends_no_blob_and_changes_nothing(source, site, requests_sent):
    digest = source.push("twice/app", "v1", b"sent once")
    task = Task(source.state.registry.registry_id, "twice/app", digest, "v1", REGION,
                site.account)
    copier = _copier(source)
    copier.apply(task)
    first = list(requests_sent)
    assert sorted(m for m, _ in first if m == "POST") == ["POST", "POST"]  # config, layer
    before = (_images(site, "twice/app"), {o.key for o in site.state.registry.driver.walk()})
    requests_sent.clear()
    copier.apply(task)
    _copier(source).apply(task)  # a fresh copier (another worker) too
    assert {m for m, _ in requests_sent} == {"HEAD", "PUT"}, requests_sent
    assert all("/blobs/" in p for m, p in requests_sent if m == "HEAD")
    assert all("/manifests/" in p for m, p in requests_sent if m == "PUT")
    after = (_images(site, "twice/app"), {o.key for o in site.state.registry.driver.walk()})
    assert after == before and after[0] == {digest: ["v1"]}


def test_delete_replication_removes_images_and_tags_at_the_site(source, site):
    _configure(source, site, deletes=True)
    reg = source.state.registry
    doomed = source.push("gone/app", "v1", b"deleted at the source")
    kept = source.push("gone/app", "v2", b"untagged at the source")
    reg.manifests.put("gone/app", "v3", _manifest(source, "gone/app", kept),
                      OCI_MANIFEST)
    assert _replicate(source) == 3
    assert _images(site, "gone/app") == {doomed: ["v1"], kept: ["v2", "v3"]}
    reg.manifests.delete("gone/app", doomed)   # the image, with its tag
    reg.manifests.delete("gone/app", "v3")     # a tag alone
    assert _replicate(source) == 2
    assert _images(site, "gone/app") == {kept: ["v2"]}


def test_an_untag_leaves_a_tag_the_site_moved(source, site):
    reg = source.state.registry
    digest = source.push("moved/app", "v1", b"first")

    def task(action: str, tag: str | None = "v1") -> Task:
        return Task(reg.registry_id, "moved/app", digest, tag, REGION, site.account, action)
    _copier(source).apply(task(task_rows.COPY))
    other = site.push("moved/app", "v1", b"pushed at the site itself")
    _copier(source).apply(task(task_rows.UNTAG))
    assert _images(site, "moved/app") == {digest: [], other: ["v1"]}
    _copier(source).apply(task(task_rows.DELETE, None))
    _copier(source).apply(task(task_rows.DELETE, None))  # already gone: done
    assert _images(site, "moved/app") == {other: ["v1"]}


def test_a_wrong_access_key_fails_the_task_access_denied(source, site, caplog):
    wrong = "wrong-" + site.admin.secret[6:]
    arn = _secret(source, "replication/wrong", site.admin.id, wrong)
    _sites(source).put(WRONG_KEY_SITE, site.url, arn)
    try:
        digest = source.push("denied/app", "v1", b"refused by the site")
        task = Task(source.state.registry.registry_id, "denied/app", digest, "v1", REGION,
                    WRONG_KEY_SITE)
        for unknown in (False, True):
            if unknown:  # an access key id the site does not know
                _secret(source, "replication/wrong", "AKIANOSUCHKEY0000000", wrong)
                _sites(source).put(WRONG_KEY_SITE, site.url, arn)  # a fresh Remote
            with pytest.raises(ReplicationRefused) as caught:
                _copier(source).apply(task)
            assert caught.value.code == "ACCESS_DENIED"
            assert wrong not in str(caught.value) and wrong not in caplog.text
        there = site.client()
        with pytest.raises(there.exceptions.RepositoryNotFoundException):
            there.describe_repositories(repositoryNames=["denied/app"])
    finally:
        _sites(source).delete(WRONG_KEY_SITE)


def test_a_key_mended_in_the_secret_is_used_by_the_running_copier(source, site):
    good = _sites(source).list()[0].secret_arn
    arn = _secret(source, "replication/mended", site.admin.id, "not-the-key")
    _sites(source).put(site.account, site.url, arn)
    try:
        digest = source.push("mended/app", "v1", b"after the key is mended")
        task = Task(source.state.registry.registry_id, "mended/app", digest, "v1", REGION,
                    site.account)
        copier = _copier(source)
        with pytest.raises(ReplicationRefused):
            copier.apply(task)
        assert _secret(source, "replication/mended", site.admin.id, site.admin.secret) == arn
        copier.apply(task)  # the same worker's copier, the next task
        assert _images(site, "mended/app") == {digest: ["v1"]}
    finally:
        _sites(source).put(site.account, site.url, good)


def test_a_key_of_another_account_than_the_sites_is_refused(source, site):
    arn = _sites(source).list()[0].secret_arn
    _sites(source).put(WRONG_KEY_SITE, site.url, arn)  # the key is of site.account
    try:
        digest = source.push("elsewhere/app", "v1", b"not the named account's")
        with pytest.raises(ReplicationRefused) as caught:
            _copier(source).apply(Task(source.state.registry.registry_id, "elsewhere/app",
                                       digest, "v1", REGION, WRONG_KEY_SITE))
        assert caught.value.code == "INVALID_DESTINATION"
    finally:
        _sites(source).delete(WRONG_KEY_SITE)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_site_that_is_down_raises_what_the_job_retries(source, site):
    arn = _secret(source, "replication/down", site.admin.id, site.admin.secret)
    _sites(source).put(DOWN_SITE, f"http://127.0.0.1:{_closed_port()}", arn)
    reg = source.state.registry
    try:
        digest = source.push("down/app", "v1", b"while the site is away")
        for action in (task_rows.COPY, task_rows.DELETE, task_rows.UNTAG):
            task = Task(reg.registry_id, "down/app", digest, "v1", REGION, DOWN_SITE, action)
            with pytest.raises(Exception) as caught:
                _copier(source).apply(task)
            assert not isinstance(caught.value, ReplicationRefused), caught.value
    finally:
        _sites(source).delete(DOWN_SITE)


def test_an_immutable_tag_at_the_site_is_left_off(source, site):
    site.client().create_repository(repositoryName="imm/app", imageTagMutability="IMMUTABLE")
    _configure(source, site)
    first = source.push("imm/app", "v1", b"first")
    _replicate(source)
    second = source.push("imm/app", "v1", b"second")  # the tag moves at the source
    assert _replicate(source) == 1
    assert _images(site, "imm/app") == {first: ["v1"], second: []}  # replicated, untagged
    assert _status(source, "imm/app", "v1")[0]["status"] == "COMPLETE"


def test_a_deletion_an_index_at_the_site_still_lists_is_done(source, site):
    reg = source.state.registry
    digest = source.push("listed/app", "v1", b"listed by an index at the site")
    _copier(source).apply(Task(reg.registry_id, "listed/app", digest, "v1", REGION,
                               site.account))
    body = _manifest(site, "listed/app", digest)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}]}).encode()
    site.state.registry.manifests.put("listed/app", "all", index, OCI_INDEX)
    # As at a destination of this deployment (copy._remove): left, and the task done.
    _copier(source).apply(Task(reg.registry_id, "listed/app", digest, None, REGION,
                               site.account, task_rows.DELETE))
    assert digest in _images(site, "listed/app")


def test_an_index_goes_with_its_platforms_and_referrers(source, site):
    reg = source.state.registry
    _configure(source, site)
    children = []
    for arch in ("amd64", "arm64"):
        body = source.manifest("multi/app", f"layer {arch}".encode())
        children.append((str(reg.manifests.put("multi/app", None, body, OCI_MANIFEST).digest),
                         len(body), arch))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": size,
         "platform": {"os": "linux", "architecture": arch}} for d, size, arch in children]})
    pushed = str(reg.manifests.put("multi/app", "v1", index.encode(), OCI_INDEX).digest)
    sbom = source.manifest("multi/app", b"an sbom", subject={
        "mediaType": OCI_INDEX, "digest": pushed, "size": len(index)})
    reg.manifests.put("multi/app", None, sbom, OCI_MANIFEST)
    _replicate(source)
    assert set(_images(site, "multi/app")) == {pushed, *(d for d, _, _ in children),
                                               str(Digest.of(sbom))}
    assert _manifest(site, "multi/app", "v1") == index.encode()
    for arch in ("amd64", "arm64"):
        assert _blob(site, "multi/app", f"layer {arch}".encode()) == f"layer {arch}".encode()
    referrers = site.state.registry.repositories.referrers(
        "multi/app", Digest.parse(pushed), None)["manifests"]
    assert [r["digest"] for r in referrers] == [str(Digest.of(sbom))]


def test_a_sites_destination_may_name_a_region_this_deployment_does_not_serve(source, site):
    client = source.client()
    elsewhere = {"region": "eu-central-2", "registryId": site.account}  # not served here
    client.put_replication_configuration(replicationConfiguration={"rules": [
        {"destinations": [elsewhere]}]})
    assert client.describe_registry()["replicationConfiguration"]["rules"] == [
        {"destinations": [elsewhere]}]
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [{"region": "eu-central-2", "registryId": "999999999999"}]}]})


_LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "selection": {
    "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5},
    "action": {"type": "expire"}}]})


@pytest.fixture
def replication_template(site) -> Iterator[str]:
    """The site's REPLICATION template for "tmpl", and a longer CREATE_ON_PUSH one that a
    replicated repository must not get."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{site.account}:root"},
        "Action": ["ecr:BatchGetImage"]}]})
    client = site.client()
    client.create_repository_creation_template(
        prefix="tmpl", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "team", "Value": "dr"}], repositoryPolicy=policy,
        lifecyclePolicy=_LIFECYCLE)
    client.create_repository_creation_template(prefix="tmpl/app", appliedFor=["CREATE_ON_PUSH"])
    yield policy
    for prefix in ("tmpl", "tmpl/app"):
        client.delete_repository_creation_template(prefix=prefix)


def test_a_repository_made_at_the_site_gets_the_sites_replication_template(
        source, site, replication_template):
    _configure(source, site)
    source.push("tmpl/app/x", "v1", b"made by replication")
    assert _replicate(source) == 1
    client = site.client()
    [made] = client.describe_repositories(repositoryNames=["tmpl/app/x"])["repositories"]
    assert made["imageTagMutability"] == "IMMUTABLE"
    assert client.list_tags_for_resource(resourceArn=made["repositoryArn"])["tags"] == [
        {"Key": "team", "Value": "dr"}]
    assert json.loads(client.get_repository_policy(repositoryName="tmpl/app/x")[
        "policyText"]) == json.loads(replication_template)
    assert json.loads(client.get_lifecycle_policy(repositoryName="tmpl/app/x")[
        "lifecyclePolicyText"]) == json.loads(_LIFECYCLE)
    source.push("plain/app", "v1", b"no template covers it")  # defaults
    assert _replicate(source) == 1
    [plain] = client.describe_repositories(repositoryNames=["plain/app"])["repositories"]
    assert plain["imageTagMutability"] == "MUTABLE"


def test_template_policies_the_site_refuses_are_left_off_and_the_image_arrives(
        source, site, replication_template, monkeypatch, caplog):
    digest = source.push("tmpl/refused", "v1", b"arrives anyway")
    task = Task(source.state.registry.registry_id, "tmpl/refused", digest, "v1", REGION,
                site.account)
    original = Remote.call

    def refusing(self, region, operation, **params):
        if operation == "put_lifecycle_policy":
            raise ReplicationRefused("ACCESS_DENIED", "the site refused its access key")
        return original(self, region, operation, **params)
    monkeypatch.setattr(Remote, "call", refusing)
    _copier(source).apply(task)
    assert _images(site, "tmpl/refused") == {digest: ["v1"]}
    client = site.client()
    assert client.get_repository_policy(repositoryName="tmpl/refused")["policyText"]
    with pytest.raises(Exception, match="LifecyclePolicyNotFound"):
        client.get_lifecycle_policy(repositoryName="tmpl/refused")
    assert "made without its template's lifecyclePolicy" in caplog.text
