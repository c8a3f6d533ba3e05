"""What a tenant learns about others from a real server's refusals and errors: nothing.

Refusals of another account's resources read the same, byte for byte but for the request id
and the date, whether or not the target exists: on the registry routes (an account with a
registry, one without, and one that does not exist), the ECR API (``registryId``, repository
ARNs) and the admin API (users with secret paths, access keys, the managed KMS key). No answer
and no log line quotes the credentials a request carried. And the data directory is its
user's alone: 0700 directories, 0600 files.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.config import Settings
from berth.iam.tenancy import RegistryAddress
from berth.iam.wiring import open_iam
from berth.keys import KeyService
from berth.storage.metadata.database import Database
from tests.support.berth_node import BerthNode
from tests.support.credentials import AccessKey, basic
from tests.support.oci_push import digest_of, push_image
from tests.support.repositories import pushes_create

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
MISSING = "999999999999"
ACCOUNT = "<account>"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
CONFIG, LAYER = b'{"architecture":"amd64","os":"linux"}', b"disclosure layer"


@dataclass
class World:
    node: BerthNode
    accounts: dict[str, str]   # "made" (registry, repository web), "unmade", "missing"
    stranger: AccessKey        # a user of a third account, allowed everything by its policy
    token: str                 # the stranger's registry token
    noperm_key: str            # an access key of made's user /secret-team/noperm
    managed_key: str           # made's managed KMS key (alias/aws/ecr)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    node = BerthNode(tmp_path_factory.mktemp("disclosure")).start()
    try:
        yield _populate(node)
    finally:
        node.stop()


def _populate(node: BerthNode) -> World:
    settings = Settings(data_dir=node.data_dir)
    db = Database(settings.database_url)
    try:
        iam = open_iam(settings, db)
        ids = iam.identities
        made, unmade = ids.create_account("made").id, ids.create_account("unmade").id
        owner = requests.Session()
        owner.auth = ("AWS", iam.tokens.mint(ids.create_access_key(made).id)[0])
        owner.headers["Host"] = _host(node, made)
        pushes_create(db, iam.registry_id(RegistryAddress(made, REGION)))
        push_image(owner, node.url, "web", "v1", CONFIG, [LAYER])
        ids.create_user(made, "noperm", "/secret-team/")
        noperm_key = ids.create_access_key(made, "noperm").id
        with db.write() as tx:
            managed = KeyService(db, ids.master).managed_default(tx, made, REGION)
        stranger = ids.create_account("stranger").id
        ids.create_user(stranger, "mallory")
        ids.put_user_policy(stranger, "mallory", "all", ALLOW_ALL)
        key = ids.create_access_key(stranger, "mallory")
        token = iam.tokens.mint(key.id)[0]
    finally:
        db.dispose()
    return World(node, {"made": made, "unmade": unmade, "missing": MISSING},
                 AccessKey(key.id, key.secret), token, noperm_key, managed.id)


def _host(node: BerthNode, account: str) -> str:
    return f"{account}.dkr.ecr.{REGION}.localhost:{node.port}"


def _comparable(response: requests.Response, *renames: tuple[str, str]) -> tuple:
    """Status, headers and body, without what differs per request (request id, date, the
    length a renamed body changes), each ``(found, instead)`` renamed."""
    body = response.content
    headers = {k.lower(): v for k, v in response.headers.items()
               if k.lower() not in ("x-amzn-requestid", "x-request-id", "date",
                                    "content-length")}
    for found, instead in renames:
        body = body.replace(found.encode(), instead.encode())
        headers = {k: v.replace(found, instead) for k, v in headers.items()}
    return response.status_code, headers, body


def _signed(world: World, path: str, target: str, service: str, params: dict
            ) -> requests.Response:
    data = json.dumps(params).encode()
    request = AWSRequest("POST", world.node.url + path, data=data, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(world.stranger.id, world.stranger.secret), service,
              REGION).add_auth(request)
    return requests.post(world.node.url + path, data=data, headers=dict(request.headers),
                         timeout=30)


# -- the registry routes -------------------------------------------------------------------
ROUTES = [("GET", "/v2/web/manifests/v1"), ("HEAD", "/v2/web/manifests/v1"),
          ("PUT", "/v2/web/manifests/v2"), ("DELETE", "/v2/web/manifests/v1"),
          ("GET", f"/v2/web/blobs/{digest_of(LAYER)}"),
          ("HEAD", f"/v2/web/blobs/{digest_of(LAYER)}"),
          ("POST", "/v2/web/blobs/uploads/"),
          ("PATCH", "/v2/web/blobs/uploads/0b6a4ad3-7e6c-4b9e-8d4a-2f3b1c0d9e8f"),
          ("GET", "/v2/web/tags/list"), ("GET", f"/v2/web/referrers/{digest_of(CONFIG)}"),
          ("GET", "/v2/absent/manifests/v1"), ("GET", "/v2/_catalog")]


@pytest.mark.parametrize("method,path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_registry_refusals_do_not_tell_which_accounts_exist(world: World, method, path):
    answers = {}
    for which, account in world.accounts.items():
        response = requests.request(method, world.node.url + path, timeout=30, headers={
            "Host": _host(world.node, account), "Authorization": basic(world.token),
            "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            data=b"{}" if method in ("PUT", "PATCH") else None)
        answers[which] = _comparable(response, (account, ACCOUNT))
    if path == "/v2/_catalog":  # a listing, filtered to what the caller may see: nothing
        assert answers["made"][0] == 200 and answers["made"][2] == b'{"repositories":[]}'
    else:
        assert answers["made"][0] == 403, answers["made"]
    assert answers["unmade"] == answers["made"]
    assert answers["missing"] == answers["made"]


# -- the ECR API ---------------------------------------------------------------------------
ECR_CALLS = {
    "DescribeRepositories": {"registryId": ACCOUNT},
    "DescribeRepositories-named": {"registryId": ACCOUNT, "repositoryNames": ["web"]},
    "ListImages": {"registryId": ACCOUNT, "repositoryName": "web"},
    "BatchGetImage": {"registryId": ACCOUNT, "repositoryName": "web",
                      "imageIds": [{"imageTag": "v1"}]},
    "CreateRepository": {"registryId": ACCOUNT, "repositoryName": "new"},
    "DeleteRepository": {"registryId": ACCOUNT, "repositoryName": "web", "force": True},
    "GetRepositoryPolicy": {"registryId": ACCOUNT, "repositoryName": "web"},
    "GetDownloadUrlForLayer": {"registryId": ACCOUNT, "repositoryName": "web",
                               "layerDigest": digest_of(LAYER)},
    "ListTagsForResource": {"resourceArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/web"},
}


@pytest.mark.parametrize("operation", list(ECR_CALLS))
def test_ecr_refusals_do_not_tell_which_accounts_exist(world: World, operation):
    answers = {}
    for which, account in world.accounts.items():
        params = json.loads(json.dumps(ECR_CALLS[operation]).replace(ACCOUNT, account))
        response = _signed(world, "/", "AmazonEC2ContainerRegistry_V20150921."
                           + operation.split("-")[0], "ecr", params)
        answers[which] = _comparable(response, (account, ACCOUNT))
    if operation == "DescribeRepositories":
        assert answers["made"][0] == 200 and json.loads(answers["made"][2]) == {
            "repositories": []}
    else:
        assert json.loads(answers["made"][2])["__type"] == "AccessDeniedException"
    assert answers["unmade"] == answers["made"]
    assert answers["missing"] == answers["made"]


# -- the admin API -------------------------------------------------------------------------
NO_SUCH_KEY, NO_SUCH_KMS_KEY = "AKIA0000000000000000", "00000000-0000-4000-8000-000000000000"
# Operation -> (parameters naming what exists in made, the same naming nothing).
ADMIN_CALLS = {
    "ListUserPolicies": ({"UserName": "noperm"}, {"UserName": "nobody"}),
    "DeleteUser": ({"UserName": "noperm"}, {"UserName": "nobody"}),
    "ListAccessKeys": ({"UserName": "noperm"}, {"UserName": "nobody"}),
    "GetUserPolicy": ({"UserName": "noperm", "PolicyName": "p"},
                      {"UserName": "nobody", "PolicyName": "p"}),
    "DeleteAccessKey": ({"AccessKeyId": "<noperm-key>"}, {"AccessKeyId": NO_SUCH_KEY}),
    "UpdateAccessKey": ({"AccessKeyId": "<noperm-key>", "Status": "Inactive"},
                        {"AccessKeyId": NO_SUCH_KEY, "Status": "Inactive"}),
    "DescribeKey": ({"KeyId": "<managed-key>"}, {"KeyId": NO_SUCH_KMS_KEY}),
    "DescribeKey-alias": ({"KeyId": "alias/aws/ecr"}, {"KeyId": "alias/aws/none"}),
    "DisableKey": ({"KeyId": "<managed-key>"}, {"KeyId": NO_SUCH_KMS_KEY}),
}


@pytest.mark.parametrize("operation", list(ADMIN_CALLS))
def test_admin_refusals_do_not_tell_what_exists(world: World, operation):
    existing, missing = ADMIN_CALLS[operation]
    made = world.accounts["made"]
    real = {"<noperm-key>": world.noperm_key, "<managed-key>": world.managed_key}
    existing = {k: real.get(v, v) for k, v in existing.items()}
    target = "BerthAdmin_20261122." + operation.split("-")[0]
    found = _signed(world, "/admin", target, "berth", {"AccountId": made, **existing})
    assert found.json()["__type"] == "AccessDeniedException", found.text
    for secret in ("secret-team", world.noperm_key, world.managed_key):
        assert secret not in found.text or secret in existing.values(), found.text
    renames = [(existing[k], missing[k]) for k in existing if existing[k] != missing[k]]
    absent = _signed(world, "/admin", target, "berth", {"AccountId": made, **missing})
    assert _comparable(absent) == _comparable(found, *renames)
    # And another account altogether, existing or not, reads the same.
    nowhere = _signed(world, "/admin", target, "berth", {"AccountId": MISSING, **missing})
    assert _comparable(nowhere, (MISSING, made)) == _comparable(absent)


# -- credentials are never quoted ----------------------------------------------------------
def test_no_answer_or_log_line_quotes_credentials(world: World):
    token = world.token
    headers = [f"Basic {basic(token).split()[1]}", token, f"Bearer {token}",
               f"AWS4-HMAC-SHA256 {token}", f"AWS4-HMAC-SHA256 Credential={token}, "
               f"SignedHeaders=host, Signature={token.rsplit('.', 1)[1]}"]
    targets = [("POST", "/", "AmazonEC2ContainerRegistry_V20150921.ListImages"),
               ("POST", "/admin", "BerthAdmin_20261122.ListUsers"),
               ("GET", "/v2/web/tags/list", None)]
    pieces = [token, basic(token).split()[1], *token.split(".")[1:]]
    for header in headers:
        for method, path, target in targets:
            response = requests.request(method, world.node.url + path, data=b"{}", timeout=30,
                                        headers={"Authorization": header,
                                                 "X-Amz-Date": "20260101T000000Z",
                                                 **({"X-Amz-Target": target} if target
                                                    else {})})
            assert 400 <= response.status_code < 500, response.text
            answer = response.text + repr(dict(response.headers))
            assert not [p for p in pieces if p in answer], (header, path, answer)
    logged = world.node.log_text()
    assert not [p for p in pieces if p in logged]


# -- the data directory --------------------------------------------------------------------
def test_the_data_directory_is_its_users_alone(world: World):
    node = world.node
    upload = node.session().post(f"{node.url}/v2/private/blobs/uploads/", timeout=30)
    assert upload.status_code == 202, upload.text
    resp = node.session().patch(node.url + upload.headers["Location"], data=b"half a blob",
                                headers={"Content-Type": "application/octet-stream"},
                                timeout=30)
    assert resp.status_code == 202, resp.text
    modes = {path: stat.S_IMODE(os.lstat(path).st_mode)
             for path in [node.data_dir, *node.data_dir.rglob("*")]}
    names = {path.relative_to(node.data_dir).as_posix() for path in modes}
    for wanted in ("metadata.db", "metadata.db-wal", "metadata.db-shm", "master.key",
                   "admin-credentials", "blobs/data", "blobs/uploads"):
        assert wanted in names, sorted(names)
    files = [p.relative_to(node.data_dir).as_posix() for p in modes if p.is_file()]
    for prefix in ("blobs/data/", "blobs/uploads/"):  # a blob's file, an upload's
        assert any(name.startswith(prefix) for name in files), sorted(names)
    shared = {str(path): oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert not shared, shared
