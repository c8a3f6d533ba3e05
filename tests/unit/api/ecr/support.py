"""Test support: a small synthetic service model with one shape of every kind, generators
of valid requests for any operation in a model (a minimal one, and a hypothesis strategy), and
the full app served by uvicorn on a loopback port with boto3 clients signed by keys Berth made,
on each metadata database (SQLite, PostgreSQL)."""
from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.model import OperationModel, ServiceModel, Shape
from hypothesis import strategies as st

from berth.api.ecr.validation import compiled_pattern
from berth.app import create_app
from berth.config import Settings
from berth.registry.references import Digest
from tests.support.aws_retries import retry_throttling
from tests.support.credentials import AccessKey, admin_key
from tests.support.metadata_templates import DATABASES, fresh_database, migrate_url
from tests.support.registry_images import image_manifest, push_image
from tests.support.repositories import make_repository
from tests.unit.api.ecr.test_real_clients import serving

# Values meant to satisfy each of the ECR model's (Java) patterns as AWS reads them.
PATTERN_SAMPLES = {
    "[0-9]{12}": "123456789012",
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}":
        "0b6a4ad3-7e6c-4b9e-8d4a-2f3b1c0d9e8f",
    "[0-9a-z-]{2,25}": "us-east-1",
    "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*": "team-a/web",
    "[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+": "sha256:" + "ab" * 32,
    "^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\\/[a-z0-9-]+":
        "arn:aws:kms:us-east-1:123456789012:key/0b6a4ad3-7e6c-4b9e",
    "^(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*$": "team-a/*",
    "^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$": "team-a/web",
    "^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$":
        "ROOT",
    "^[0-9a-zA-Z._*-]{1,128}$": "v1.*",
    "^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$": "team-a/web*",
    "^\\S+$": "latest",
    "^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\\w+=,.@-]+(/[\\w+=,.@-]+)*$":
        "arn:aws:iam::123456789012:role/ecr-pull",
    "^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{12}:\\/signing-profiles\\/[a-zA-Z0-9_]{2,}$":
        "arn:aws:signer:us-east-1:123456789012:/signing-profiles/MyProfile",
    "^arn:aws(-\\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\\-pullthroughcache\\/"
    "[a-zA-Z0-9\\/_+=.@-]+$":
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub",
}

INT_RANGES = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def all_shapes(service: ServiceModel) -> list[Shape]:
    return [service.shape_for(name) for name in service.shape_names]


def minimal_instance(shape: Shape) -> object:
    """Required members only; lists with max(min, 1) members; the least value allowed."""
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure":
        return {name: minimal_instance(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [minimal_instance(shape.member)] * max(meta.get("min", 0), 1)
    if kind == "map":
        return {minimal_instance(shape.key): minimal_instance(shape.value)}
    if kind == "string":
        if "enum" in meta:
            return meta["enum"][0]
        if "pattern" in meta:
            return PATTERN_SAMPLES[meta["pattern"]]
        return "a" * max(meta.get("min", 0), 1)
    if kind in INT_RANGES or kind in ("float", "double"):
        return meta.get("min", 1)
    return {"boolean": True, "timestamp": MOMENT, "blob": b"\x00\x01"}[kind]


def instances(shape: Shape, depth: int = 0) -> st.SearchStrategy:
    """Any valid value of the shape, optional members included."""
    meta, kind = shape.metadata, shape.type_name
    low, high = meta.get("min"), meta.get("max")
    if kind == "structure":
        required = set(shape.required_members)
        members = {n: instances(m, depth + 1) for n, m in shape.members.items()
                   if n in required or depth < 6}
        return st.fixed_dictionaries({n: s for n, s in members.items() if n in required},
                                     optional={n: s for n, s in members.items()
                                               if n not in required})
    if kind in ("list", "map"):
        low = low or 0
        size = {"min_size": low, "max_size": min(high or low + 3, low + 3)}
        if kind == "list":
            return st.lists(instances(shape.member, depth + 1), **size)
        return st.dictionaries(instances(shape.key, depth + 1),
                               instances(shape.value, depth + 1), **size)
    if kind == "string":
        return _strings(meta)
    if kind in INT_RANGES:
        floor, ceiling = INT_RANGES[kind]
        return st.integers(floor if low is None else low, ceiling if high is None else high)
    if kind in ("float", "double"):
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(timezones=st.just(timezone.utc)).map(
            lambda moment: moment.replace(microsecond=0))
    return st.binary(min_size=low or 0, max_size=min(high or 64, 64))


def _strings(meta: dict) -> st.SearchStrategy:
    if "enum" in meta:
        return st.sampled_from(meta["enum"])
    low, high = meta.get("min", 0), meta.get("max")
    pattern = compiled_pattern(meta["pattern"]) if "pattern" in meta else None
    if pattern is None:
        base = st.text(min_size=low, max_size=min(high or low + 20, low + 20))
    else:
        base = st.from_regex(pattern, fullmatch=True)
    return base.filter(lambda s: low <= utf16_length(s) <= (high or float("inf")))


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_SYNTHETIC = {
    "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "jsonVersion": "1.1",
                 "targetPrefix": "Synthetic", "endpointPrefix": "synthetic",
                 "serviceId": "Synthetic", "signatureVersion": "v4"},
    "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
                          "input": {"shape": "Everything"}, "output": {"shape": "Everything"}}},
    "shapes": {
        "Everything": {"type": "structure", "required": ["name"], "members": {
            "name": {"shape": "Name"}, "count": {"shape": "Count"}, "big": {"shape": "Big"},
            "ratio": {"shape": "Ratio"}, "flag": {"shape": "Flag"}, "when": {"shape": "When"},
            "data": {"shape": "Data"}, "kind": {"shape": "Kind"}, "names": {"shape": "Names"},
            "items": {"shape": "Items"}, "labels": {"shape": "Labels"},
            "nested": {"shape": "Nested"}, "odd": {"shape": "Odd"},
            "wide": {"shape": "Wide"}}},
        "Name": {"type": "string", "min": 2, "max": 5, "pattern": "[a-z]+"},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Big": {"type": "long"},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Flag": {"type": "boolean"},
        "When": {"type": "timestamp"},
        "Data": {"type": "blob", "max": 4},
        "Kind": {"type": "string", "enum": ["ALPHA", "BETA"]},
        "Names": {"type": "list", "member": {"shape": "Name"}, "min": 1, "max": 3},
        "Items": {"type": "list", "member": {"shape": "Item"}, "max": 2},
        "Item": {"type": "structure", "required": ["name"], "members": {
            "name": {"shape": "Name"}, "names": {"shape": "Names"}, "when": {"shape": "When"},
            "data": {"shape": "Data"}}},
        "Labels": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Kind"},
                   "max": 2},
        "Nested": {"type": "structure", "members": {"inner": {"shape": "Inner"},
                                                    "byName": {"shape": "ItemsByName"}}},
        "Inner": {"type": "structure", "members": {"items": {"shape": "Items"}}},
        "ItemsByName": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Item"}},
        "Odd": {"type": "string", "pattern": "\\p{Alpha}+"},  # Java-only: Python cannot compile
        "Wide": {"type": "string", "max": 3},
    },
}


def synthetic_operation() -> OperationModel:
    return ServiceModel(_SYNTHETIC, service_name="synthetic").operation_model("Op")


# -- the full app, served ----------------------------------------------------------------------
REGION = "us-east-1"
ALLOW_ECR = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})


def grant(principal: str, action="ecr:*", effect="Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "s", "Effect": effect, "Principal": {"AWS": principal}, "Action": action}]})


@dataclass
class Server:
    url: str
    app: object
    admin: AccessKey

    @property
    def state(self):
        return self.app.app.state

    @property
    def account(self) -> str:
        """The administrator's account."""
        return self.state.iam.identities.admin_account().id

    admin_account = account

    def client(self, key: AccessKey | None = None, region: str = REGION, **config):
        """boto3 retrying nothing but ThrottlingException (tests/support/aws_retries.py)."""
        key = key or self.admin
        return retry_throttling(boto3.session.Session().client(
            "ecr", endpoint_url=self.url, region_name=region, aws_access_key_id=key.id,
            aws_secret_access_key=key.secret,
            config=Config(retries={"max_attempts": 1}, **config)))

    def account_user(self, account: str, name: str,
                     policy: str | None = ALLOW_ECR) -> AccessKey:
        identities = self.state.iam.identities
        identities.create_user(account, name)
        if policy:
            identities.put_user_policy(account, name, "ecr", policy)
        made = identities.create_access_key(account, name)
        return AccessKey(made.id, made.secret)

    def user(self, name: str, policy: dict | str) -> AccessKey:
        """A user of the administrator's account with ``policy`` (a document or its text)."""
        text = policy if isinstance(policy, str) else json.dumps(policy)
        return self.account_user(self.account, name, text)

    def account_with_user(self, name: str) -> tuple[str, AccessKey]:
        account = self.state.iam.identities.create_account(name).id
        return account, self.account_user(account, "dev")

    def repository(self, name: str) -> None:
        """In the administrator's registry, made as a first push makes it (idempotent)."""
        with self.state.registry.db.write() as tx:
            make_repository(tx, self.state.registry.registry_id, name)

    def blobs(self, repository: str, *blobs: bytes) -> None:
        for data in blobs:
            self.state.registry.uploads.put_small(repository, Digest.of(data), data)

    def manifest(self, repository: str, layer: bytes = b"layer", **extra) -> bytes:
        return image_manifest(self.state.registry, repository, layer, **extra)

    def push(self, repository: str, tag: str, layer: bytes = b"layer", **extra) -> str:
        return str(push_image(self.state.registry, repository, tag, layer, **extra))


@contextlib.contextmanager
def full_app(data_dir: Path, database: str | None = None) -> Iterator[Server]:
    """The whole application on a fresh data directory, served on a loopback port.
    ``database`` is a migrated metadata database as ``Settings(database=...)`` takes it ("":
    SQLite already in ``data_dir``; or a PostgreSQL URL); None migrates SQLite here."""
    settings = Settings(data_dir=data_dir, database=database or "")
    if database is None:
        migrate_url(settings.database_url)
    app = create_app(settings, run_jobs=False)
    try:
        with serving(app) as url:
            yield Server(url, app, admin_key(data_dir))
    finally:
        app.app.state.registry.close()


def server_fixture(name: str):
    """A module-scoped fixture: the full app over a fresh data directory named after ``name``,
    once on each metadata database (SQLite, PostgreSQL), copied from the session's template."""
    @pytest.fixture(scope="module", params=DATABASES)
    def server(request, tmp_path_factory) -> Iterator[Server]:
        data_dir = tmp_path_factory.mktemp(f"{name}-{request.param}")
        with fresh_database(request, request.param, data_dir) as database:
            with full_app(data_dir, database) as running:
                yield running
    return server


def repo_fixture(prefix: str):
    """A fixture: a repository made through the ECR API, named after the test (its
    parameters, the database's among them, joined by dashes)."""
    @pytest.fixture
    def repo(server, request) -> str:
        name = prefix + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")
        server.client().create_repository(repositoryName=name)
        return name
    return repo


def error_of(caught) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def code_of(caught) -> str:
    return caught.value.response["Error"]["Code"]


def message_of(caught) -> str:
    return caught.value.response["Error"]["Message"]
