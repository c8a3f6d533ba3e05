"""``berth admin`` offline: every subcommand in process against a temporary data directory,
one JSON document on stdout, errors on stderr with status 1."""
from __future__ import annotations

import json
import logging

import pytest

from berth.cli.main import main
from berth.config import Settings
from berth.keys.master import MasterKey
from berth.secrets import SecretService
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]}


@pytest.fixture
def berth(tmp_path, capsys):
    """Runs ``berth admin ...`` on the data directory: (status, stdout JSON or None, stderr)."""
    def run(*args: str):
        status = main(["admin", *args, "--data-dir", str(tmp_path / "data")])
        out, err = capsys.readouterr()
        return status, (json.loads(out) if out.strip() else None), err
    return run


@pytest.fixture
def account(berth) -> str:
    status, out, _ = berth("accounts", "create", "team-a", "--account-id", "111122223333")
    assert status == 0
    return out["Account"]["AccountId"]


def ok(berth, *args: str) -> dict:
    status, out, err = berth(*args)
    assert status == 0, err
    return out


def test_accounts(berth, account):
    accounts = ok(berth, "accounts", "list")["Accounts"]
    assert [(a["AccountName"], a["IsAdmin"]) for a in accounts] == [("admin", True),
                                                                    ("team-a", False)]
    assert accounts[1] == {"AccountId": "111122223333", "AccountName": "team-a",
                           "Arn": "arn:aws:iam::111122223333:root", "IsAdmin": False,
                           "CreateDate": accounts[1]["CreateDate"]}


def test_users(berth, account):
    user = ok(berth, "users", "create", "--account", account, "alice", "--path", "/dev/")
    assert user["User"]["Arn"] == "arn:aws:iam::111122223333:user/dev/alice"
    ok(berth, "users", "create", "--account", account, "bob")
    listed = ok(berth, "users", "list", "--account", account)["Users"]
    assert [u["UserName"] for u in listed] == ["alice", "bob"]
    assert ok(berth, "users", "delete", "--account", account, "bob") == {}
    assert [u["UserName"] for u in ok(berth, "users", "list", "--account", account)[
        "Users"]] == ["alice"]


def test_keys(berth, account):
    ok(berth, "users", "create", "--account", account, "alice")
    root = ok(berth, "access-keys", "create", "--account", account)["AccessKey"]
    assert root["UserName"] is None and root["Status"] == "Active"
    key = ok(berth, "access-keys", "create", "--account", account, "--user", "alice")["AccessKey"]
    assert key["UserName"] == "alice" and key["SecretAccessKey"]

    def statuses(*user: str) -> dict:
        listed = ok(berth, "access-keys", "list", "--account", account, *user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    assert statuses() == {root["AccessKeyId"]: "Active"}
    assert ok(berth, "access-keys", "deactivate", "--account", account, key["AccessKeyId"]) == {}
    assert statuses("--user", "alice") == {key["AccessKeyId"]: "Inactive"}
    ok(berth, "access-keys", "activate", "--account", account, key["AccessKeyId"])
    assert statuses("--user", "alice") == {key["AccessKeyId"]: "Active"}
    ok(berth, "access-keys", "delete", "--account", account, key["AccessKeyId"])
    assert statuses("--user", "alice") == {}


def test_policies(berth, account, tmp_path):
    ok(berth, "users", "create", "--account", account, "alice")
    user = ("--account", account, "--user", "alice")
    ok(berth, "policies", "put", *user, "--name", "inline", "--document", json.dumps(POLICY))
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY))
    ok(berth, "policies", "put", *user, "--name", "from-file", "--file", str(path))
    assert ok(berth, "policies", "list", *user) == {"PolicyNames": ["from-file", "inline"]}
    assert ok(berth, "policies", "get", *user, "--name", "inline") == {
        "UserName": "alice", "PolicyName": "inline", "PolicyDocument": POLICY}
    assert ok(berth, "policies", "delete", *user, "--name", "inline") == {}
    assert ok(berth, "policies", "list", *user) == {"PolicyNames": ["from-file"]}


def test_a_malformed_policy_says_where(berth, account):
    ok(berth, "users", "create", "--account", account, "alice")
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*", "Bogus": 1}]}
    status, out, err = berth("policies", "put", "--account", account, "--user", "alice",
                             "--name", "p", "--document", json.dumps(bad))
    assert (status, out) == (1, None)
    assert "MalformedPolicyDocument: Statement[0].Bogus" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args, expected", [
    (("users", "list", "--account", "999999999999"), "NoSuchEntity"),
    (("users", "create", "--account", "111122223333", "bad name!"), "ValidationError"),
    (("accounts", "create", "team-a"), "EntityAlreadyExists"),
    (("access-keys", "deactivate", "--account", "111122223333", "AKIANOSUCHKEY"), "NoSuchEntity"),
    (("policies", "put", "--account", "111122223333", "--user", "u", "--name", "p"),
     "exactly one of --document and --file"),
    (("policies", "put", "--account", "111122223333", "--user", "u", "--name", "p",
      "--file", "/no/such/file.json"), "No such file"),
])
def test_user_errors_are_one_line_and_status_1(berth, account, args, expected):
    status, out, err = berth(*args)
    assert (status, out) == (1, None)
    assert expected in err and err.startswith("berth admin: ")
    assert "Traceback" not in err


def test_kms_keys(berth, account):
    acct = ("--account", account)
    made = ok(berth, "keys", "create", *acct, "--description", "web")["KeyMetadata"]
    assert (made["Region"], made["Description"], made["KeyState"]) == (
        "us-east-1", "web", "Enabled")
    elsewhere = ok(berth, "keys", "create", *acct, "--region", "eu-west-1")["KeyMetadata"]
    assert elsewhere["Arn"].startswith(f"arn:aws:kms:eu-west-1:{account}:key/")
    assert [k["KeyId"] for k in ok(berth, "keys", "list", *acct)["Keys"]] == [
        made["KeyId"], elsewhere["KeyId"]]
    assert ok(berth, "keys", "describe", *acct, made["Arn"])["KeyMetadata"] == made
    assert ok(berth, "keys", "disable", *acct, made["KeyId"])["KeyMetadata"][
        "KeyState"] == "Disabled"
    assert ok(berth, "keys", "enable", *acct, made["KeyId"])["KeyMetadata"]["Enabled"]
    assert ok(berth, "keys", "rotate", *acct, made["KeyId"])["KeyMetadata"][
        "KeyVersion"] == 2
    status, out, err = berth("keys", "describe", *acct, elsewhere["KeyId"])
    assert (status, out) == (1, None)  # in eu-west-1, not the default region
    assert err.startswith("berth admin: NotFoundException") and "Traceback" not in err


def test_the_secret_is_printed_once_and_never_logged(berth, account, caplog):
    caplog.set_level(logging.DEBUG)
    status, out, err = berth("access-keys", "create", "--account", account)
    assert status == 0
    secret = out["AccessKey"]["SecretAccessKey"]
    assert json.dumps(out, indent=2).count(secret) == 1
    assert secret not in err and secret not in caplog.text
    assert all(secret not in str(r.args) for r in caplog.records)


def test_rotating_the_signing_key(berth, tmp_path):
    first = ok(berth, "tokens", "rotate-signing-key")["SigningKeyId"]
    second = ok(berth, "tokens", "rotate-signing-key")["SigningKeyId"]
    assert first != second
    db = Database(f"sqlite:///{tmp_path / 'data' / 'metadata.db'}")
    try:
        with db.read() as tx:
            assert registry_rows.newest_signing_key(tx).id == second
    finally:
        db.dispose()


def test_rotating_is_offline_only(berth):
    status, _, err = berth("tokens", "rotate-signing-key", "--endpoint-url",
                           "http://127.0.0.1:9")
    assert status == 1 and "offline only" in err


def test_an_unreachable_endpoint_is_a_one_line_error(berth, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    status, _, err = berth("accounts", "list", "--endpoint-url", "http://127.0.0.1:9")
    assert status == 1 and err.startswith("berth admin: cannot reach http://127.0.0.1:9")


def test_online_without_credentials(berth, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    status, _, err = berth("accounts", "list", "--endpoint-url", "http://127.0.0.1:9",
                           "--profile", "nobody")
    assert status == 1 and "nobody" in err and "Traceback" not in err


# -- secrets ----------------------------------------------------------------------------------
SECRET_NAME = "ecr-pullthroughcache/docker-hub"
TOKEN = "dckr_pat_never-printed"


def _file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _resolve(tmp_path, arn: str) -> dict:
    settings = Settings(data_dir=tmp_path / "data")
    db = Database(settings.database_url)
    try:
        master = MasterKey.load(settings.master_key, settings.master_key_path, create=False)
        return SecretService(db, master).resolve(arn)
    finally:
        db.dispose()


def test_secrets_from_username_and_token_file(berth, account, tmp_path):
    token = _file(tmp_path, "token", TOKEN + "\n")
    acct = ("--account", account)
    out = ok(berth, "secrets", "put", SECRET_NAME, *acct, "--username", "alice",
             "--token-file", token)
    arn = out["Secret"]["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:{account}:secret:{SECRET_NAME}-")
    assert _resolve(tmp_path, arn) == {"username": "alice", "accessToken": TOKEN}
    assert [s["ARN"] for s in ok(berth, "secrets", "list", *acct)["Secrets"]] == [arn]
    assert ok(berth, "secrets", "delete", SECRET_NAME, *acct) == {}
    assert ok(berth, "secrets", "list", *acct) == {"Secrets": []}
    status, _, err = berth("secrets", "delete", SECRET_NAME, *acct)
    assert status == 1 and err.startswith("berth admin: SecretNotFoundException")


def test_a_secret_from_a_file_in_a_region(berth, account, tmp_path):
    value = {"username": "bob", "accessToken": TOKEN, "note": "quay"}
    path = _file(tmp_path, "secret.json", json.dumps(value))
    status, out, err = berth("secrets", "put", "quay", "--account", account, "--region",
                             "eu-west-1", "--secret-file", path)
    assert status == 0, err
    assert ":eu-west-1:" in out["Secret"]["ARN"] and TOKEN not in json.dumps(out) + err
    assert _resolve(tmp_path, out["Secret"]["ARN"]) == value
    assert ok(berth, "secrets", "list", "--account", account) == {"Secrets": []}


@pytest.mark.parametrize("flags, expected", [
    ((), "give either --secret-file, or --username with --token-file"),
    (("--username", "alice"), "--username and --token-file go together"),
    (("--secret-file", "x", "--username", "alice"), "give either"),
])
def test_a_secret_value_comes_from_one_source(berth, account, flags, expected):
    status, out, err = berth("secrets", "put", SECRET_NAME, "--account", account, *flags)
    assert (status, out) == (1, None) and expected in err


def test_a_refused_secret_value_is_one_line_without_it(berth, account, tmp_path):
    path = _file(tmp_path, "secret.json", json.dumps({"user": "alice", "token": TOKEN}))
    status, _, err = berth("secrets", "put", SECRET_NAME, "--account", account,
                           "--secret-file", path)
    assert status == 1 and err.startswith("berth admin: ValidationError: ")
    assert len(err.splitlines()) == 1 and TOKEN not in err


# -- replication sites ----------------------------------------------------------------------
SITE = "222233334444"
SITE_KEY = "the-sites-secret-key-never-printed-012345"


def _site_secret(berth, account: str, tmp_path, region: str = "us-east-1") -> str:
    path = _file(tmp_path, "site.json", json.dumps({"accessKeyId": "AKIASITEB0000000000",
                                                    "secretAccessKey": SITE_KEY}))
    return ok(berth, "secrets", "put", "replication/site-b", "--account", account,
              "--region", region, "--secret-file", path)["Secret"]["ARN"]


def _registry(tmp_path, account: str, region: str = "us-east-1") -> None:
    """The account's registry in the region, as its first ECR request makes it."""
    db = Database(Settings(data_dir=tmp_path / "data").database_url)
    try:
        with db.write() as tx:
            registry_rows.ensure_registry(tx, account, region)
    finally:
        db.dispose()


def test_replication_sites(berth, account, tmp_path):
    _registry(tmp_path, account)
    acct = ("--account", account)
    arn = _site_secret(berth, account, tmp_path)
    status, out, err = berth("replication-sites", "put", SITE, *acct, "--endpoint",
                             "http://127.0.0.1:5000/", "--secret-arn", arn)
    assert status == 0, err
    site = out["Site"]
    assert (site["RegistryId"], site["Endpoint"], site["SecretArn"]) == (
        SITE, "http://127.0.0.1:5000", arn)
    listed = ok(berth, "replication-sites", "list", *acct)
    assert listed == {"Sites": [site]}
    assert SITE_KEY not in json.dumps(out) + err + json.dumps(listed)
    assert ok(berth, "replication-sites", "delete", SITE, *acct) == {}
    assert ok(berth, "replication-sites", "list", *acct) == {"Sites": []}
    status, _, err = berth("replication-sites", "delete", SITE, *acct)
    assert status == 1 and err.startswith("berth admin: ResourceNotFoundException")


def test_replication_sites_in_a_region(berth, account, tmp_path):
    _registry(tmp_path, account, "eu-west-1")
    arn = _site_secret(berth, account, tmp_path, "eu-west-1")
    ok(berth, "replication-sites", "put", SITE, "--account", account, "--region",
       "eu-west-1", "--endpoint", "https://site-b.example.com", "--secret-arn", arn)
    assert [s["RegistryId"] for s in ok(berth, "replication-sites", "list", "--account",
                                        account, "--region", "eu-west-1")["Sites"]] == [SITE]


@pytest.mark.parametrize("args, expected", [
    (("--endpoint", "ftp://site-b", "--secret-arn", "{arn}"), "ValidationError: Invalid endp"),
    (("--endpoint", "http://site-b", "--secret-arn", "{arn}x"), "SecretNotFoundException"),
    (("--endpoint", "http://site-b", "--secret-arn", "site-b"), "ValidationError: Invalid sec"),
])
def test_a_refused_site_is_one_line_without_the_key(berth, account, tmp_path, args,
                                                    expected):
    _registry(tmp_path, account)
    arn = _site_secret(berth, account, tmp_path)
    status, out, err = berth("replication-sites", "put", SITE, "--account", account,
                             *(a.format(arn=arn) for a in args))
    assert (status, out) == (1, None) and err.startswith(f"berth admin: {expected}")
    assert len(err.splitlines()) == 1 and SITE_KEY not in err
    assert ok(berth, "replication-sites", "list", "--account", account) == {"Sites": []}


def test_replication_sites_of_a_new_account(berth, account, tmp_path):
    arn = _site_secret(berth, account, tmp_path)
    assert ok(berth, "replication-sites", "list", "--account", account) == {"Sites": []}
    ok(berth, "replication-sites", "put", SITE, "--account", account, "--endpoint",
       "http://127.0.0.1:5000", "--secret-arn", arn)
