"""Secrets: put (a replacement keeps the ARN's suffix), list and delete per account and
region, resolved by full or partial ARN; sealed with the master key, bound to their row; a
value never shown by a description, a listing or an error."""
import json
import os

import pytest

from berth.keys.master import MasterKey
from berth.secrets import Secret, SecretError, SecretNotFound, SecretService, SecretUnreadable
from berth.storage.metadata import secrets as rows

ACCOUNT, REGION = "123456789012", "us-east-1"
NAME = "ecr-pullthroughcache/docker-hub"
TOKEN = "dckr_pat_very-secret-token"
VALUE = json.dumps({"username": "alice", "accessToken": TOKEN})


@pytest.fixture
def master():
    return MasterKey(os.urandom(32))


@pytest.fixture
def service(db, master) -> SecretService:
    return SecretService(db, master)


def _error(call, *args) -> SecretError:
    with pytest.raises(SecretError) as caught:
        call(*args)
    return caught.value


def test_put_describes_the_secret_with_secrets_manager_s_arn(service):
    made = service.put(ACCOUNT, REGION, NAME, VALUE)
    prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}-"
    assert made.arn.startswith(prefix) and len(made.arn) == len(prefix) + 6
    assert made.suffix.isalnum() and made.suffix.isascii()
    assert (made.account_id, made.region, made.name) == (ACCOUNT, REGION, NAME)
    assert made.created_at == made.updated_at
    assert service.resolve(made.arn) == {"username": "alice", "accessToken": TOKEN}


def test_a_replacement_keeps_the_suffix_and_creation_time(service):
    first = service.put(ACCOUNT, REGION, NAME, VALUE)
    second = service.put(ACCOUNT, REGION, NAME, json.dumps(
        {"username": "bob", "accessToken": "other"}))
    assert (second.arn, second.created_at) == (first.arn, first.created_at)
    assert second.updated_at >= first.updated_at
    assert service.resolve(first.arn)["username"] == "bob"
    assert [s.arn for s in service.list(ACCOUNT, REGION)] == [first.arn]


def test_suffixes_are_chosen_per_secret(service):
    arns = {service.put(ACCOUNT, REGION, f"s{n}", "{}").suffix for n in range(20)}
    assert len(arns) == 20


def test_a_partial_arn_resolves_too(service):
    made = service.put(ACCOUNT, REGION, NAME, VALUE)
    partial = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}"
    assert service.resolve(partial) == service.resolve(made.arn)


@pytest.mark.parametrize("arn", [
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}-AAAAAA",  # another suffix
    f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{NAME}",       # another region
    f"arn:aws:secretsmanager:{REGION}:210987654321:secret:{NAME}",     # another account
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/other",
    f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{NAME}",                      # malformed
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:",
    "docker-hub", "", None,
])
def test_what_names_no_secret_is_not_found(service, arn):
    service.put(ACCOUNT, REGION, NAME, VALUE)
    error = _error(service.resolve, arn)
    assert isinstance(error, SecretNotFound)
    assert (error.code, error.status) == ("SecretNotFoundException", 404)


def test_a_value_sealed_with_another_master_key_is_unreadable(db, service):
    made = service.put(ACCOUNT, REGION, NAME, VALUE)
    error = _error(SecretService(db, MasterKey(os.urandom(32))).resolve, made.arn)
    assert isinstance(error, SecretUnreadable)
    assert error.code == "UnableToDecryptSecretValueException"
    assert error.__cause__ is None and error.__suppress_context__


def test_a_sealed_value_is_bound_to_its_row(db, service):
    """Copied onto another secret's row, a sealed value does not open."""
    service.put(ACCOUNT, REGION, NAME, VALUE)
    other = service.put(ACCOUNT, REGION, "ecr-pullthroughcache/quay", VALUE)
    with db.write() as tx:
        sealed = rows.sealed(tx, ACCOUNT, REGION, NAME).value
        rows.put(tx, {"account_id": ACCOUNT, "region": REGION, "name": other.name,
                      "suffix": other.suffix, "value": sealed, "created_at": 1.0,
                      "updated_at": 1.0})
    assert isinstance(_error(service.resolve, other.arn), SecretUnreadable)


def test_secrets_are_per_account_and_region_and_listed_by_name(service):
    for name in ("b", "a/c", "ecr-pullthroughcache/x"):
        service.put(ACCOUNT, REGION, name, VALUE)
    service.put(ACCOUNT, "eu-west-1", "elsewhere", "{}")
    service.put("210987654321", REGION, "theirs", "{}")
    assert [s.name for s in service.list(ACCOUNT, REGION)] == [
        "a/c", "b", "ecr-pullthroughcache/x"]
    assert [s.name for s in service.list(ACCOUNT, "eu-west-1")] == ["elsewhere"]


def test_delete(service):
    made = service.put(ACCOUNT, REGION, NAME, VALUE)
    service.delete(ACCOUNT, REGION, NAME)
    assert service.list(ACCOUNT, REGION) == []
    assert isinstance(_error(service.resolve, made.arn), SecretNotFound)
    error = _error(service.delete, ACCOUNT, REGION, NAME)
    assert isinstance(error, SecretNotFound) and NAME in error.message


@pytest.mark.parametrize("name, reason", [
    ("", "1 to 512"), ("x" * 513, "1 to 512"), ("with space", "1 to 512"),
    ("colon:name", "1 to 512"), ("née", "1 to 512"),
    ("docker-hub-abcdef", "hyphen followed by six"), ("a-b/c_d=", "hyphen followed by six"),
])
def test_names_follow_secrets_manager_s_rules(service, name, reason):
    error = _error(service.put, ACCOUNT, REGION, name, "{}")
    assert error.code == "ValidationError" and reason in error.message


@pytest.mark.parametrize("name", ["a", "x" * 512, "A-z0-9/_+=.@-x", "docker-hub",
                                  "ecr-pullthroughcache/ghcr-abcde"])
def test_names_that_are_fine(service, name):
    assert service.put(ACCOUNT, REGION, name, VALUE).name == name


@pytest.mark.parametrize("name, value, reason", [
    ("plain", "", "JSON object"),
    ("plain", f"not json {TOKEN}", "JSON object"),
    ("plain", json.dumps([TOKEN]), "JSON object"),
    ("plain", "[" * 100_000, "at most 65536 bytes"),
    ("plain", "[" * 60_000, "JSON object"),
    ("plain", json.dumps({"k": "x" * 65536}), "at most 65536 bytes"),
    (NAME, json.dumps({"username": "alice", "token": TOKEN}), "username and accessToken"),
    (NAME, json.dumps({"accessToken": TOKEN}), "username and accessToken"),
    (NAME, json.dumps({"username": "", "accessToken": TOKEN}), "username and accessToken"),
    (NAME, json.dumps({"username": 7, "accessToken": [TOKEN]}), "username and accessToken"),
    (NAME, json.dumps({"accessKeyId": "AKIA", "secretAccessKey": ""}),
     "accessKeyId and secretAccessKey"),
])
def test_values_are_json_objects_with_ecr_s_members_for_pull_through(service, name, value,
                                                                     reason):
    error = _error(service.put, ACCOUNT, REGION, name, value)
    assert error.code == "ValidationError" and reason in error.message
    assert TOKEN not in str(error) and error.__context__ is None
    assert service.list(ACCOUNT, REGION) == []


def test_a_pull_through_secret_may_hold_an_access_key_instead(service):
    value = json.dumps({"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": TOKEN})
    made = service.put(ACCOUNT, REGION, NAME, value)
    assert service.resolve(made.arn) == json.loads(value)


def test_the_value_is_never_shown(db, service, caplog):
    made = service.put(ACCOUNT, REGION, NAME, VALUE)
    listed = service.list(ACCOUNT, REGION)
    assert TOKEN not in repr(made) + repr(listed) + str(made.__dict__)
    assert not any(isinstance(v, bytes) for v in vars(made).values())
    assert set(vars(made)) == {"account_id", "region", "name", "suffix", "created_at",
                               "updated_at"}
    assert isinstance(made, Secret) and TOKEN not in caplog.text
    with db.read() as tx:  # sealed at rest
        assert TOKEN.encode() not in bytes(rows.sealed(tx, ACCOUNT, REGION, NAME).value)


def test_a_registry_owns_only_its_accounts_secrets_in_its_region():
    from berth.secrets.models import owned_by
    own = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/hub-AbCdEf"
    assert owned_by(own, ACCOUNT, REGION)
    assert owned_by(own[:-7], ACCOUNT, REGION)  # the partial ARN
    assert not owned_by(own, "999999999999", REGION)
    assert not owned_by(own.replace(REGION, "eu-west-1"), ACCOUNT, REGION)
    assert not owned_by("not an ARN", ACCOUNT, REGION)
