"""The authorization matrix: every registry route and every ECR API operation served, times
every kind of caller, each cell with its exact status and error code, against a real server
(the admin API's: test_authorization_matrix_admin.py).

Callers: none, an unknown key, a wrong secret (a tampered token on the registry side), an
expired token (a stale signature on the API side), a revoked key, a user allowed by policy, a
user stopped by an explicit Deny, and a user of another account on a repository without and
with a repository policy granting that account.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Callable

import botocore.session
import pytest
import requests

from berth.iam.tenancy import RegistryAddress
from berth.lifecycle.services import LifecycleService
from berth.registry.images.service import ImageId
from berth.scanning.services import ScanService
from berth.signing.configuration import SigningConfigurations
from berth.registry.images.pull_exclusions import PullTimeExclusions
from berth.registry.repositories.templates import Template, TemplateService
from berth.replication.configuration import (Configuration, Destination,
                                             ReplicationConfigurations, Rule)
from berth.pullthrough.rules import Rule as CacheRule
from berth.pullthrough.rules import RuleService
from tests.support.credentials import basic
from tests.support.oci_push import digest_of, push_blob, push_image
from tests.support.replication import held_backfill

from tests.support.authorization_world import (  # noqa: F401 (world: the fixture)
    ALLOW_ALL,
    API_CALLERS,
    API_EXPECTED,
    CLOSED,
    DENY_ALL,
    OPEN,
    TARGET,
    World,
    signed as _signed,
    world,
)

pytestmark = pytest.mark.e2e



# -- the registry side ---------------------------------------------------------------------
# Each route: (method, path template, what an allowed caller gets, a setup run as the admin
# that returns the path's parameters). Setups give each cell its own tag/blob/upload so
# cells do not depend on each other.

def _tag(world: World, repo: str, cell: str) -> dict:
    tag = f"t-{cell}"
    resp = world.admin.put(f"{world.url}/v2/{repo}/manifests/{tag}", data=world.manifest,
                           headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status_code == 201, resp.text
    return {"tag": tag}


def _loose_blob(world: World, repo: str, cell: str) -> dict:
    return {"blob": push_blob(world.admin, world.url, repo, f"loose {cell}".encode())}


def _upload(world: World, repo: str, cell: str) -> dict:
    resp = world.admin.post(f"{world.url}/v2/{repo}/blobs/uploads/")
    assert resp.status_code == 202, resp.text
    return {"upload": resp.headers["Location"].rsplit("/", 1)[1]}


ROUTES: dict[str, tuple[str, str, int, Callable | None]] = {
    "base": ("GET", "/v2/", 200, None),
    "catalog": ("GET", "/v2/_catalog", 200, None),
    "manifest-get": ("GET", "/v2/{repo}/manifests/v1", 200, None),
    "manifest-head": ("HEAD", "/v2/{repo}/manifests/v1", 200, None),
    "manifest-put": ("PUT", "/v2/{repo}/manifests/p-{cell}", 201, None),
    "manifest-delete": ("DELETE", "/v2/{repo}/manifests/{tag}", 202, _tag),
    "blob-get": ("GET", "/v2/{repo}/blobs/{layer}", 200, None),
    "blob-head": ("HEAD", "/v2/{repo}/blobs/{layer}", 200, None),
    "blob-delete": ("DELETE", "/v2/{repo}/blobs/{blob}", 202, _loose_blob),
    "upload-start": ("POST", "/v2/{repo}/blobs/uploads/", 202, None),
    "upload-monolithic": ("POST", "/v2/{repo}/blobs/uploads/?digest={fresh}", 201, None),
    "upload-status": ("GET", "/v2/{repo}/blobs/uploads/{upload}", 204, _upload),
    "upload-patch": ("PATCH", "/v2/{repo}/blobs/uploads/{upload}", 202, _upload),
    "upload-finish": ("PUT", "/v2/{repo}/blobs/uploads/{upload}?digest={fresh}", 201, _upload),
    "upload-cancel": ("DELETE", "/v2/{repo}/blobs/uploads/{upload}", 204, _upload),
    "tags": ("GET", "/v2/{repo}/tags/list", 200, None),
    "referrers": ("GET", "/v2/{repo}/referrers/{manifest}", 200, None),
}
# Who gets in, and where: (caller, repository) -> expected outcome.
UNAUTHENTICATED = ("none", "unknown-key", "wrong-secret", "expired", "revoked")
REGISTRY_CALLERS = [*((c, CLOSED) for c in UNAUTHENTICATED), ("alice", CLOSED),
                    ("dave", CLOSED), ("bob", CLOSED), ("bob", OPEN)]
ALLOWED = {("alice", CLOSED), ("bob", OPEN)}
# Routes that need no repository permission: any authenticated caller gets them.
OPEN_ROUTES = {"base", "catalog"}


def _expected(route: str, caller: str, repo: str) -> tuple[int, str | None]:
    allowed_status = ROUTES[route][2]
    if caller in UNAUTHENTICATED:
        return 401, "UNAUTHORIZED"
    if route in OPEN_ROUTES or (caller, repo) in ALLOWED:
        return allowed_status, None
    return 403, "DENIED"


def _body_for(route: str, world: World, cell: str) -> bytes | None:
    if route == "manifest-put":
        return world.manifest
    if route in ("upload-monolithic", "upload-finish"):
        return f"fresh {cell}".encode()
    if route == "upload-patch":
        return b"some bytes"
    return None


@pytest.mark.parametrize("caller,repo", REGISTRY_CALLERS, ids=lambda v: v)
@pytest.mark.parametrize("route", list(ROUTES))
def test_registry_route(world: World, route: str, caller: str, repo: str):
    method, template, _, setup = ROUTES[route]
    cell = f"{route}-{caller}-{repo.split('/')[1]}"
    body = _body_for(route, world, cell)
    params = {"repo": repo, "cell": cell, "layer": digest_of(world.layer),
              "manifest": digest_of(world.manifest),
              "fresh": digest_of(body) if body else "", **(setup(world, repo, cell) if setup
                                                         else {})}
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"
               if route == "manifest-put" else "application/octet-stream"}
    token = world.tokens[caller]
    if token is not None:
        headers["Authorization"] = basic(token)
    headers.update(_addressing_home(world, caller))
    resp = requests.request(method, world.url + template.format(**params), data=body,
                            headers=headers, allow_redirects=False, timeout=30)
    status, code = _expected(route, caller, repo)
    assert resp.status_code == status, resp.text
    if code is not None and method != "HEAD":  # HEAD answers carry no body
        assert json.loads(resp.content)["errors"][0]["code"] == code
        _assert_nothing_leaked(world, resp)
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith('Basic realm="http://')
    if code is not None and setup is not None:
        _assert_untouched(world, route, repo, params)


def _addressing_home(world: World, caller: str) -> dict[str, str]:
    """Headers that address the home registry for ``caller``: for bob, of the other account,
    its host name (a plain host would be his own registry); home callers use the plain host."""
    return {"Host": _host(world, "home")} if caller == "bob" else {}


def _assert_nothing_leaked(world: World, resp: requests.Response) -> None:
    for secret in (world.layer, world.config, world.manifest, b"sha256:"):
        assert secret not in resp.content


def _assert_untouched(world: World, route: str, repo: str, params: dict) -> None:
    """A refused request changed nothing."""
    base = f"{world.url}/v2/{repo}"
    if route == "manifest-delete":
        assert world.admin.head(f"{base}/manifests/{params['tag']}").status_code == 200
    elif route == "blob-delete":
        assert world.admin.head(f"{base}/blobs/{params['blob']}").status_code == 200
    elif route.startswith("upload-"):
        resp = world.admin.get(f"{base}/blobs/uploads/{params['upload']}")
        assert resp.status_code == 204 and resp.headers["Range"] == "0-0"


@pytest.mark.parametrize("caller,visible", [
    ("alice", {CLOSED, OPEN}), ("dave", set()), ("bob", {OPEN})])
def test_catalog_lists_only_what_the_caller_may_see(world: World, caller, visible):
    resp = requests.get(f"{world.url}/v2/_catalog", timeout=30, headers={
        "Authorization": basic(world.tokens[caller]), **_addressing_home(world, caller)})
    assert resp.status_code == 200
    assert set(resp.json()["repositories"]) == visible


def test_denied_mount_source_falls_back_to_an_upload(world: World):
    """bob may push to OPEN but not read CLOSED: mounting from CLOSED must not link its blob."""
    resp = requests.post(
        f"{world.url}/v2/{OPEN}/blobs/uploads/?mount={digest_of(world.config)}&from={CLOSED}",
        headers={"Authorization": basic(world.tokens["bob"]), **_addressing_home(world, "bob")},
        timeout=30)
    assert resp.status_code == 202
    resp = requests.post(
        f"{world.url}/v2/{OPEN}/blobs/uploads/?mount={digest_of(world.config)}&from={CLOSED}",
        headers={"Authorization": basic(world.tokens["alice"])}, timeout=30)
    assert resp.status_code == 201


# -- the ECR API side ----------------------------------------------------------------------
# -- the ECR operations, each with a fresh repository (or registry state) per cell ----------
HOME_ONLY = "home-only"   # a repository policy that grants only the home account
GRANT_OTHER = "grant-other"


class _Cell:
    """Builds one cell's request: for repository operations, a fresh repository with an image
    (v1), addressed in the home registry; bob-granted's repository grants bob's account."""

    def __init__(self, world: World, name: str, caller: str):
        self.world, self.name, self.caller = world, name, caller
        self.cross = caller in ("bob", "bob-granted")

    @property
    def repo(self) -> str:
        return f"m/{self.name}"

    def repository(self, policy: str | None = None) -> dict:
        world = self.world
        push_image(world.admin, world.url, self.repo, "v1", world.config, [world.layer])
        if self.caller == "bob-granted":
            policy = GRANT_OTHER
        if policy is not None:
            principal = world.accounts["other" if policy == GRANT_OTHER else "home"]
            world.iam.policies.set_repository_policy(
                world.iam.registry_id(world.iam.tenancy.default), self.repo, json.dumps({
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{principal}:root"},
                        "Action": "ecr:*"}]}))
        body = {"repositoryName": self.repo}
        if self.cross:
            body["registryId"] = world.accounts["home"]
        return body

    def arn(self) -> dict:
        self.repository()
        return {"resourceArn": f"arn:aws:ecr:us-east-1:{self.world.accounts['home']}:"
                               f"repository/{self.repo}"}

    def upload(self, data: bytes | None = None) -> dict:
        body = self.repository()
        resp = self.world.admin.post(f"{self.world.url}/v2/{self.repo}/blobs/uploads/")
        assert resp.status_code == 202, resp.text
        location = resp.headers["Location"]
        if data:
            resp = self.world.admin.patch(self.world.url + location, data=data, headers={
                "Content-Type": "application/octet-stream"})
            assert resp.status_code == 202, resp.text
        return {**body, "uploadId": location.rsplit("/", 1)[1]}

    def lifecycle_policy(self) -> dict:
        """The cell's repository, with a lifecycle policy (put through the domain)."""
        body = self.repository()
        LifecycleService(self.world.iam.db, self.world.iam.registry_id(
            self.world.iam.tenancy.default)).put_policy(self.repo, LIFECYCLE_POLICY)
        return body

    def scanned(self) -> dict:
        """The cell's repository, its image's scan started (through the domain)."""
        body = self.repository()
        ScanService(self.world.iam.db, self.world.iam.registry_id(
            self.world.iam.tenancy.default)).start(self.repo, ImageId(None, "v1"))
        return {**body, "imageId": {"imageTag": "v1"}}

    def lifecycle_preview(self) -> dict:
        """The cell's repository, with a lifecycle policy preview started."""
        body = self.repository()
        LifecycleService(self.world.iam.db, self.world.iam.registry_id(
            self.world.iam.tenancy.default)).start_preview(self.repo, LIFECYCLE_POLICY)
        return body

    def scanner(self, registered: bool = False) -> str:
        """A principal of the registry this caller addresses (its own), excluded from pull
        time updates there if ``registered``."""
        world = self.world
        account = world.accounts["other" if self.cross else "home"]
        arn = f"arn:aws:iam::{account}:user/scanner-{self.name}"
        if registered:
            registry_id = world.iam.registry_id(RegistryAddress(account, "us-east-1"))
            PullTimeExclusions(world.iam.db, registry_id).register(arn)
        return arn

    def template(self) -> dict:
        """A repository creation template in the registry this caller addresses (its own)."""
        world = self.world
        account = world.accounts["other" if self.cross else "home"]
        registry_id = world.iam.registry_id(RegistryAddress(account, "us-east-1"))
        prefix = f"tpl/{self.name}"
        TemplateService(world.iam.db, registry_id).create(Template(prefix, ("REPLICATION",)))
        return {"prefix": prefix}

    @property
    def cache_prefix(self) -> str:
        """The cell's pull-through cache rule prefix (at most 30 characters)."""
        return "ptc-" + hashlib.sha256(self.name.encode()).hexdigest()[:12]

    def cache_rule(self) -> dict:
        """A pull-through cache rule (its upstream a closed loopback port) in the registry
        this caller addresses (its own)."""
        world = self.world
        account = world.accounts["other" if self.cross else "home"]
        registry_id = world.iam.registry_id(RegistryAddress(account, "us-east-1"))
        RuleService(world.iam.db, registry_id, lambda arn: {}).create(
            CacheRule(self.cache_prefix, CLOSED_UPSTREAM))
        return {"ecrRepositoryPrefix": self.cache_prefix}

    def backfill(self, region: str, started: bool = False) -> dict:
        """A replication rule to ``region`` in the registry this caller addresses (its own);
        with ``started``, a backfill to it, whose id is returned."""
        world = self.world
        account = world.accounts["other" if self.cross else "home"]
        registry_id = world.iam.registry_id(RegistryAddress(account, "us-east-1"))
        configurations = ReplicationConfigurations(world.iam.db, registry_id)
        wanted = Destination(region, account)
        rules = configurations.get().rules
        if not any(wanted in rule.destinations for rule in rules):
            configurations.put(Configuration((*rules, Rule((wanted,)))), account, "us-east-1",
                               tuple(world.iam.tenancy.regions))
        if not started:
            return {"destination": {"region": region, "registryId": account}}
        backfill_id = held_backfill(world.iam.db, registry_id, region, account,
                                    f"held/{self.name}")
        return {"replicationBackfillId": backfill_id}

    def signing_configuration(self) -> dict:
        """A signing configuration (no rules) in the registry this caller addresses (its
        own)."""
        world = self.world
        account = world.accounts["other" if self.cross else "home"]
        registry_id = world.iam.registry_id(RegistryAddress(account, "us-east-1"))
        SigningConfigurations(world.iam.db, registry_id).put([])
        return {}

    def registry_policy(self) -> dict:
        """A registry policy in the registry this caller addresses (its own)."""
        world = self.world
        account = "other" if self.cross else "home"
        address = RegistryAddress(world.accounts[account], "us-east-1")
        world.iam.policies.set_registry_policy(world.iam.registry_id(address), REGISTRY_POLICY)
        return {}


LIFECYCLE_POLICY = json.dumps({"rules": [{
    "rulePriority": 1, "description": "keep the ten newest images",
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
    "action": {"type": "expire"}}]})
CLOSED_UPSTREAM = "127.0.0.1:1"  # nothing listens: ValidatePullThroughCacheRule fails fast
REGISTRY_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": ["ecr:ReplicateImage"], "Resource": "*"}]})


def _part(cell: _Cell) -> dict:
    data = b"a layer part"
    return {**cell.upload(), "partFirstByte": 0, "partLastByte": len(data) - 1,
            "layerPartBlob": base64.b64encode(data).decode()}


def _complete(cell: _Cell) -> dict:
    data = f"layer of {cell.name}".encode()
    return {**cell.upload(data), "layerDigests": [digest_of(data)]}


# Operation -> (is it on a repository, request body for a fresh cell).
ECR_OPERATIONS: dict[str, tuple[bool, Callable[[_Cell], dict]]] = {
    "GetAuthorizationToken": (False, lambda c: {}),
    "CreateRepository": (False, lambda c: {"repositoryName": f"new/{c.name}"}),
    "DescribeRepositories": (True, lambda c: {
        **{k: v for k, v in c.repository().items() if k != "repositoryName"},
        "repositoryNames": [c.repo]}),
    "DeleteRepository": (True, lambda c: {**c.repository(), "force": True}),
    "PutImageTagMutability": (True, lambda c: {**c.repository(),
                                               "imageTagMutability": "IMMUTABLE"}),
    "PutImageScanningConfiguration": (True, lambda c: {
        **c.repository(), "imageScanningConfiguration": {"scanOnPush": True}}),
    "TagResource": (True, lambda c: {**c.arn(), "tags": [{"Key": "k", "Value": "v"}]}),
    "UntagResource": (True, lambda c: {**c.arn(), "tagKeys": ["k"]}),
    "ListTagsForResource": (True, lambda c: c.arn()),
    "ListImages": (True, lambda c: c.repository()),
    "DescribeImages": (True, lambda c: c.repository()),
    "BatchGetImage": (True, lambda c: {**c.repository(), "imageIds": [{"imageTag": "v1"}]}),
    "PutImage": (True, lambda c: {**c.repository(), "imageTag": "p",
                                  "imageManifest": c.world.manifest.decode()}),
    "BatchDeleteImage": (True, lambda c: {**c.repository(),
                                          "imageIds": [{"imageTag": "v1"}]}),
    "ListImageReferrers": (True, lambda c: {
        **c.repository(), "subjectId": {"imageDigest": digest_of(c.world.manifest)}}),
    "BatchCheckLayerAvailability": (True, lambda c: {
        **c.repository(), "layerDigests": [digest_of(c.world.layer)]}),
    "InitiateLayerUpload": (True, lambda c: c.repository()),
    "UploadLayerPart": (True, _part),
    "CompleteLayerUpload": (True, _complete),
    "GetDownloadUrlForLayer": (True, lambda c: {**c.repository(),
                                                "layerDigest": digest_of(c.world.layer)}),
    "SetRepositoryPolicy": (True, lambda c: {**c.repository(), "policyText": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{c.world.accounts['other']}:"
                                                    "root"},
            "Action": "ecr:*"}]})}),
    "GetRepositoryPolicy": (True, lambda c: c.repository(HOME_ONLY)),
    "DeleteRepositoryPolicy": (True, lambda c: c.repository(HOME_ONLY)),
    "PutLifecyclePolicy": (True, lambda c: {**c.repository(),
                                            "lifecyclePolicyText": LIFECYCLE_POLICY}),
    "GetLifecyclePolicy": (True, lambda c: c.lifecycle_policy()),
    "DeleteLifecyclePolicy": (True, lambda c: c.lifecycle_policy()),
    "StartLifecyclePolicyPreview": (True, lambda c: {**c.repository(),
                                                     "lifecyclePolicyText": LIFECYCLE_POLICY}),
    "GetLifecyclePolicyPreview": (True, lambda c: c.lifecycle_preview()),
    "UpdateImageStorageClass": (True, lambda c: {**c.repository(), "imageId": {"imageTag": "v1"},
                                                 "targetStorageClass": "ARCHIVE"}),
    "RegisterPullTimeUpdateExclusion": (False, lambda c: {"principalArn": c.scanner()}),
    "DeregisterPullTimeUpdateExclusion": (False, lambda c: {
        "principalArn": c.scanner(registered=True)}),
    "ListPullTimeUpdateExclusions": (False, lambda c: {}),
    "PutRegistryPolicy": (False, lambda c: {"policyText": REGISTRY_POLICY}),
    "GetRegistryPolicy": (False, lambda c: c.registry_policy()),
    "DeleteRegistryPolicy": (False, lambda c: c.registry_policy()),
    "DescribeRegistry": (False, lambda c: {}),
    "PutReplicationConfiguration": (False, lambda c: {"replicationConfiguration": {"rules": []}}),
    "DescribeImageReplicationStatus": (True, lambda c: {**c.repository(),
                                                        "imageId": {"imageTag": "v1"}}),
    # A region per operation: one backfill at a time may run to a region.
    "StartReplicationBackfill": (False, lambda c: c.backfill("eu-west-1")),
    "StopReplicationBackfill": (False, lambda c: c.backfill("eu-west-2", started=True)),
    "ListReplicationBackfills": (False, lambda c: {}),
    "DescribeReplicationBackfillResults": (False, lambda c: c.backfill("eu-west-3",
                                                                       started=True)),
    "StartImageScan": (True, lambda c: {**c.repository(), "imageId": {"imageTag": "v1"}}),
    "DescribeImageScanFindings": (True, lambda c: c.scanned()),
    "PutRegistryScanningConfiguration": (False, lambda c: {"scanType": "BASIC", "rules": []}),
    "GetRegistryScanningConfiguration": (False, lambda c: {}),
    "BatchGetRepositoryScanningConfiguration": (False, lambda c: {
        "repositoryNames": [f"absent/{c.name}"]}),
    "CreateRepositoryCreationTemplate": (False, lambda c: {
        "prefix": f"tpl/{c.name}", "appliedFor": ["REPLICATION"]}),
    "DescribeRepositoryCreationTemplates": (False, lambda c: {}),
    "UpdateRepositoryCreationTemplate": (False, lambda c: c.template()),
    "DeleteRepositoryCreationTemplate": (False, lambda c: c.template()),
    "CreatePullThroughCacheRule": (False, lambda c: {
        "ecrRepositoryPrefix": c.cache_prefix, "upstreamRegistryUrl": CLOSED_UPSTREAM}),
    "DescribePullThroughCacheRules": (False, lambda c: {}),
    "UpdatePullThroughCacheRule": (False, lambda c: {
        **c.cache_rule(), "upstreamRoleArn": "arn:aws:iam::123456789012:role/upstream"}),
    "DeletePullThroughCacheRule": (False, lambda c: c.cache_rule()),
    "ValidatePullThroughCacheRule": (False, lambda c: c.cache_rule()),
    "PutSigningConfiguration": (False, lambda c: {"signingConfiguration": {"rules": []}}),
    "GetSigningConfiguration": (False, lambda c: c.signing_configuration()),
    "DeleteSigningConfiguration": (False, lambda c: c.signing_configuration()),
    "DescribeImageSigningStatus": (True, lambda c: {**c.repository(),
                                                    "imageId": {"imageTag": "v1"}}),
    "GetAccountSetting": (False, lambda c: {"name": "BASIC_SCAN_TYPE_VERSION"}),
    "PutAccountSetting": (False, lambda c: {"name": "BASIC_SCAN_TYPE_VERSION",
                                            "value": "AWS_NATIVE"}),
}


def test_every_served_operation_is_in_the_matrix():
    from berth.api.ecr.routes import OPERATIONS as SERVED
    assert set(SERVED) == set(ECR_OPERATIONS)


# bob-granted (bob on a repository whose policy grants his account) exists only where there
# is a repository.
API_CELLS = [(op, caller) for op, (scoped, _) in ECR_OPERATIONS.items()
             for caller in [*API_CALLERS, *(["bob-granted"] if scoped else [])]]


@pytest.mark.parametrize("operation,caller", API_CELLS)
def test_api_operation(world: World, operation: str, caller: str):
    scoped, make = ECR_OPERATIONS[operation]
    cell = f"{operation}-{caller}".lower()
    body = make(_Cell(world, cell, caller))
    resp = _signed(world, "bob" if caller == "bob-granted" else caller, operation, body)
    expected = API_EXPECTED.get(caller)
    if expected is None and caller == "bob" and scoped:
        expected = "AccessDeniedException"  # another account's repository, no policy for it
    if expected is None:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    assert resp.json()["__type"] == expected
    assert set(resp.json()) == {"__type", "message"}  # an error, and nothing else
    assert resp.headers["x-amzn-ErrorType"] == expected
    if operation == "DeleteRepository":
        assert world.admin.get(f"{world.url}/v2/{body['repositoryName']}/tags/list"
                               ).status_code == 200
    if operation in ("CreatePullThroughCacheRule", "DeletePullThroughCacheRule"):
        home = world.iam.registry_id(world.iam.tenancy.default)
        kept = [r.prefix for r in RuleService(world.iam.db, home, lambda arn: {}).all()]
        created = operation == "CreatePullThroughCacheRule"
        assert (body["ecrRepositoryPrefix"] in kept) is not created  # refused: unchanged


def test_a_token_from_the_api_opens_the_registry(world: World):
    key_id, secret = world.keys["bob"]
    client = botocore.session.get_session().create_client(
        "ecr", region_name="us-east-1", endpoint_url=world.url,
        aws_access_key_id=key_id, aws_secret_access_key=secret)
    data = client.get_authorization_token()["authorizationData"][0]
    user, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert data["proxyEndpoint"] == world.url  # bob's own registry, at the plain host he used
    lifetime = data["expiresAt"] - datetime.now(timezone.utc)
    assert timedelta(hours=11, minutes=59) < lifetime <= timedelta(hours=12)
    auth = {"Authorization": basic(token), **_addressing_home(world, "bob")}
    assert requests.get(f"{world.url}/v2/{OPEN}/tags/list", headers=auth).status_code == 200
    assert requests.get(f"{world.url}/v2/{CLOSED}/tags/list", headers=auth).status_code == 403


# -- addressing registries by host name ---------------------------------------------------
def _host(world: World, account: str) -> str:
    return f"{world.accounts[account]}.dkr.ecr.us-east-1.localhost:{world.url.rsplit(':', 1)[1]}"


def test_each_account_has_its_own_registry_by_host_name(world: World):
    bob = requests.Session()
    bob.auth = ("AWS", world.tokens["bob"])
    bob.headers["Host"] = _host(world, "other")
    push_image(bob, world.url, "own/app", "v1", world.config, [world.layer])
    assert "own/app" in bob.get(f"{world.url}/v2/_catalog").json()["repositories"]
    # At a plain host his token addresses the same registry: his own.
    plain = {"Authorization": basic(world.tokens["bob"])}
    assert requests.get(f"{world.url}/v2/own/app/tags/list", headers=plain).json()["tags"] == [
        "v1"]
    # The same name in the home registry does not exist; the home catalog does not show it.
    admin = world.admin
    assert admin.get(f"{world.url}/v2/own/app/tags/list").status_code == 404
    assert "own/app" not in admin.get(f"{world.url}/v2/_catalog").json()["repositories"]
    # alice (home account) reaching into bob's registry: cross-account, no policy -> denied.
    alice = {"Authorization": basic(world.tokens["alice"]), "Host": _host(world, "other")}
    resp = requests.get(f"{world.url}/v2/own/app/manifests/v1", headers=alice)
    assert resp.status_code == 403
    assert f"arn:aws:ecr:us-east-1:{world.accounts['other']}:repository/own/app" in resp.text
    # Explicitly addressing the home registry by name is the same as the plain host.
    home = {"Authorization": basic(world.tokens["alice"]), "Host": _host(world, "home")}
    assert "v1" in requests.get(f"{world.url}/v2/{CLOSED}/tags/list",
                                headers=home).json()["tags"]


def test_unknown_registries_by_host_name(world: World):
    auth = basic(world.tokens["alice"])
    port = world.url.rsplit(":", 1)[1]
    # A missing account's registry is refused as an existing one's: no enumerating accounts.
    missing = requests.get(f"{world.url}/v2/x/tags/list", headers={
        "Authorization": auth, "Host": f"999999999999.dkr.ecr.us-east-1.localhost:{port}"})
    existing = requests.get(f"{world.url}/v2/x/tags/list", headers={
        "Authorization": auth, "Host": _host(world, "other")})
    assert missing.status_code == 403 and missing.json()["errors"][0]["code"] == "DENIED"
    assert missing.content.replace(b"999999999999", world.accounts["other"].encode()) == \
        existing.content
    resp = requests.get(f"{world.url}/v2/x/tags/list", headers={
        "Authorization": auth,
        "Host": f"{world.accounts['home']}.dkr.ecr.xx-nowhere-9.localhost:{port}"})
    assert resp.status_code == 404 and resp.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # Without credentials the registry says nothing about whether the account exists.
    resp = requests.get(f"{world.url}/v2/x/tags/list", headers={
        "Host": f"999999999999.dkr.ecr.us-east-1.localhost:{port}"})
    assert resp.status_code == 401


def test_curl_reaches_a_registry_host_name_without_dns_setup(world: World):
    """curl resolves *.localhost to loopback itself (RFC 6761), as browsers do."""
    import subprocess
    bob = requests.Session()
    bob.auth = ("AWS", world.tokens["bob"])
    bob.headers["Host"] = _host(world, "other")
    push_image(bob, world.url, "curl/app", "v1", world.config, [world.layer])
    out = subprocess.run(
        ["curl", "-s", "-u", f"AWS:{world.tokens['bob']}",
         f"http://{_host(world, 'other')}/v2/_catalog"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    assert "curl/app" in json.loads(out)["repositories"]
