"""The world the authorization matrices run in (tests/e2e/test_authorization_matrix*.py): a
real server with callers of every kind (none, an unknown key, a wrong secret, an expired
token or signature, a revoked key, a user allowed by policy, one stopped by an explicit Deny,
a user of another account), two repositories (one granting the other account), and SigV4
signing as each caller."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.config import Settings
from berth.iam.tenancy import RegistryAddress
from berth.iam.wiring import open_iam
from berth.storage.metadata.database import Database
from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.oci_push import image_manifest, push_image
from tests.support.repositories import pushes_create

CLOSED, OPEN = "matrix/closed", "matrix/open"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Sid": "NoRegistry", "Effect": "Deny", "Action": "*", "Resource": "*"}]}
TARGET = "AmazonEC2ContainerRegistry_V20150921."


@dataclass
class World:
    url: str
    tokens: dict[str, str | None]          # caller -> registry token (None: no header)
    keys: dict[str, tuple[str, str]]       # caller -> (access key id, secret) for SigV4
    admin: requests.Session
    config: bytes
    layer: bytes
    manifest: bytes
    accounts: dict[str, str]               # "home" (the default registry's), "other"
    iam: object                            # berth.iam.service.Iam on the server's database
    workdir: Path | None = None            # the module's scratch folder (removed with it)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    workdir = tmp_path_factory.mktemp("matrix")
    node = BerthNode(workdir).start()
    try:
        found = _populate(node.url, node.data_dir)
        found.workdir = workdir
        yield found
        found.iam.db.dispose()
    finally:
        node.stop()


def _populate(url: str, data_dir) -> World:
    db = Database(Settings(data_dir=data_dir).database_url)
    iam = open_iam(Settings(data_dir=data_dir), db)
    ids = iam.identities
    home = iam.tenancy.default.account_id
    other = ids.create_account("other").id
    keys: dict[str, tuple[str, str]] = {}
    for account, name, policy in ((home, "alice", ALLOW_ALL), (home, "dave", DENY_ALL),
                                  (home, "carol", ALLOW_ALL), (other, "bob", ALLOW_ALL)):
        ids.create_user(account, name)
        ids.put_user_policy(account, name, "p", json.dumps(policy))
        key = ids.create_access_key(account, name)
        keys[name] = (key.id, key.secret)
    tokens = {name: iam.tokens.mint(key_id)[0] for name, (key_id, _) in keys.items()}
    ids.set_access_key_active(home, keys["carol"][0], False)   # carol's key: revoked
    keys["revoked"], tokens["revoked"] = keys.pop("carol"), tokens.pop("carol")
    tokens["expired"] = iam.tokens.mint(keys["alice"][0], now=time.time() - 13 * 3600)[0]
    tokens["unknown-key"] = iam.tokens.mint("AKIAUNKNOWNKEY000000")[0]
    head, _, mac = tokens["alice"].rpartition(".")
    tokens["wrong-secret"] = f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    tokens["none"] = None
    keys["unknown-key"] = ("AKIAUNKNOWNKEY000000", keys["alice"][1])
    keys["wrong-secret"] = (keys["alice"][0], keys["alice"][1][::-1])

    pushes_create(db, iam.registry_id(RegistryAddress(other, "us-east-1")))  # bob's pushes
    admin = requests.Session()
    admin.auth = ("AWS", iam.tokens.mint(admin_key(data_dir).id)[0])
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"matrix layer bytes"
    for repo in (CLOSED, OPEN):
        push_image(admin, url, repo, "v1", config, [layer])
    iam.policies.set_repository_policy(
        iam.registry_id(iam.tenancy.default), OPEN, json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
                "Action": "ecr:*"}]}))
    return World(url, tokens, keys, admin, config, layer, image_manifest(config, [layer]),
                 {"home": home, "other": other}, iam)


API_CALLERS = ["none", "unknown-key", "wrong-secret", "expired", "revoked", "alice", "dave",
               "bob"]
API_EXPECTED = {
    "none": "MissingAuthenticationTokenException",
    "unknown-key": "UnrecognizedClientException",
    "wrong-secret": "InvalidSignatureException",
    "expired": "InvalidSignatureException",
    "revoked": "UnrecognizedClientException",
    "dave": "AccessDeniedException",
}
def signed(world: World, caller: str, operation: str, body: dict, path: str = "/",
            target: str = TARGET, service: str = "ecr") -> requests.Response:
    data = json.dumps(body).encode()
    request = AWSRequest("POST", world.url + path, data=data, headers={
        "X-Amz-Target": target + operation, "Content-Type": "application/x-amz-json-1.1"})
    if caller != "none":
        key_id, secret = world.keys["alice" if caller == "expired" else caller]
        at = datetime.now(timezone.utc) - (timedelta(minutes=20) if caller == "expired"
                                           else timedelta())
        with mock.patch("botocore.auth.get_current_datetime",
                        return_value=at.replace(tzinfo=None)):
            SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    return requests.post(prepared.url, data=data, headers=dict(prepared.headers), timeout=30)
