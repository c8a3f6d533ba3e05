import base64
import configparser
import dataclasses
import logging
import os
import stat
import threading

import pytest
from sqlalchemy import func, select

from berth.iam.authentication import Authenticator
from berth.iam.bootstrap import CREDENTIALS_PROFILE, bootstrap
from berth.iam.identities import IdentityService
from berth.keys.master import MasterKeyError
from berth.iam.tokens import TokenService
from berth.iam.tenancy import RegistryAddress
from berth.iam.wiring import open_iam
from berth.registry.repositories.templates import TemplateService
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata.schema import access_keys, accounts, registries, signing_keys


def _count(db, table) -> int:
    with db.read() as tx:
        return tx.scalar(select(func.count().label("n")).select_from(table))


def _credentials(path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    assert parser.read(path) == [str(path)]
    assert parser.sections() == [CREDENTIALS_PROFILE]
    return parser[CREDENTIALS_PROFILE]


def test_first_start_creates_the_administrator(settings, db):
    iam = open_iam(settings, db)
    admin = iam.identities.admin_account()
    assert admin is not None and admin.is_admin and admin.name == "admin"
    assert iam.tenancy.default.account_id == admin.id
    # The credentials file: owner-only, AWS shared-credentials format.
    path = settings.credentials_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profile = _credentials(path)
    assert CREDENTIALS_PROFILE == "berth-admin"
    assert set(profile) == {"aws_access_key_id", "aws_secret_access_key"}
    key_id, secret = profile["aws_access_key_id"], profile["aws_secret_access_key"]
    assert [k.id for k in iam.identities.access_keys(admin.id)] == [key_id]
    assert path.read_text().startswith(f"# Berth administrator: root of account {admin.id}\n")
    # The key works: its secret is the stored one, and it is the admin account's root.
    with db.read() as tx:
        found, caller = Authenticator(iam.identities.master, iam.tokens).secret(tx, {}, key_id)
    assert found == secret
    assert caller.principal.kind == "root" and caller.account_id == admin.id
    assert caller.is_admin
    # The master key file, the token signing key and the default registry.
    assert stat.S_IMODE(settings.master_key_path.stat().st_mode) == 0o600
    assert _count(db, signing_keys) == 1
    assert _count(db, registries) == 1
    assert sorted(p.name for p in settings.data_dir.iterdir()) == ["admin-credentials",
                                                                  "master.key"]


def test_second_start_creates_nothing(settings, db):
    first = open_iam(settings, db)
    admin = first.identities.admin_account()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
              for p in settings.data_dir.iterdir()}
    counts = [_count(db, t) for t in (accounts, access_keys, signing_keys, registries)]
    second = open_iam(settings, db)
    assert second.identities.admin_account() == admin
    assert second.tenancy.default == first.tenancy.default
    assert second.registry_id(second.tenancy.default) == first.registry_id(first.tenancy.default)
    assert [_count(db, t) for t in (accounts, access_keys, signing_keys, registries)] == counts
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
             for p in settings.data_dir.iterdir()}
    assert after == before


def test_the_first_start_lets_the_administrators_pushes_make_repositories(settings, db):
    iam = open_iam(settings, db)
    templates = TemplateService(db, iam.registry_id(iam.tenancy.default))
    [root] = templates.describe()
    assert (root.prefix, root.applied_for) == ("ROOT", ("CREATE_ON_PUSH",))
    templates.delete("ROOT")  # the administrator's choice, which later starts respect
    open_iam(settings, db)
    assert templates.describe() == []
    other = iam.identities.create_account("team-b").id
    registry = iam.registry_id(RegistryAddress(other, iam.tenancy.default.region))
    assert TemplateService(db, registry).describe() == []  # other accounts: none, as in ECR


def test_deleted_credentials_file_is_not_recreated(settings, db):
    """The secret exists once: a lost credentials file is not written again."""
    open_iam(settings, db)
    settings.credentials_path.unlink()
    open_iam(settings, db)
    assert not settings.credentials_path.exists()


def test_admin_account_setting_fixes_the_id(settings, db):
    iam = open_iam(dataclasses.replace(settings, admin_account="123456789012"), db)
    assert iam.identities.admin_account().id == "123456789012"
    assert iam.tenancy.default.account_id == "123456789012"


def test_default_account_setting(settings, db):
    iam = open_iam(settings, db)
    team = iam.identities.create_account("team", "444455556666")
    again = open_iam(dataclasses.replace(settings, default_account=team.id), db)
    assert again.tenancy.default.account_id == team.id
    assert again.identities.admin_account().id != team.id


def test_the_secret_is_not_logged(settings, db, caplog):
    caplog.set_level(logging.DEBUG)
    open_iam(settings, db)
    secret = _credentials(settings.credentials_path)["aws_secret_access_key"]
    master = settings.master_key_path.read_text().strip()
    assert caplog.records, "bootstrap says what it created"
    assert any(str(settings.credentials_path) in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + repr(record.__dict__)
        assert secret not in text
        assert master not in text


def test_master_key_value_setting(settings, db):
    value = base64.b64encode(os.urandom(32)).decode()
    iam = open_iam(dataclasses.replace(settings, master_key=value), db)
    assert not settings.master_key_path.exists()
    open_iam(dataclasses.replace(settings, master_key=value), db)
    with pytest.raises(MasterKeyError):
        open_iam(settings, db)  # now a new key file: not the one the data was sealed with
    assert iam.identities.admin_account() is not None


def test_a_different_master_key_is_refused_at_open(settings, db):
    open_iam(settings, db)
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(MasterKeyError):
        open_iam(dataclasses.replace(settings, master_key=other), db)
    settings.master_key_path.write_text(other + "\n")
    with pytest.raises(MasterKeyError):
        open_iam(settings, db)


def test_bootstrap_directly_is_idempotent(db, identities, tokens, tmp_path):
    path = tmp_path / "creds"
    first, made = bootstrap(db, identities, tokens, "", path)
    content = path.read_text()
    second, made_again = bootstrap(db, identities, tokens, "", path)
    assert first == second
    assert made and not made_again  # the first start is told apart (it prints how to log in)
    assert path.read_text() == content
    assert _count(db, accounts) == 1 and _count(db, access_keys) == 1


# SQLite serialises write transactions (BEGIN IMMEDIATE): the race needs PostgreSQL.
@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
def test_concurrent_first_starts_on_postgresql(db, master, tmp_path, monkeypatch):
    barrier = threading.Barrier(2)
    real_find = identity_rows.find_account

    def find_account(tx, by, value):
        row = real_find(tx, by, value)
        if by == "admin":
            try:  # both starters have looked before either creates
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        return row

    monkeypatch.setattr(identity_rows, "find_account", find_account)
    results, errors = [], []

    def start(n):
        try:
            results.append(bootstrap(db, IdentityService(db, master),
                                     TokenService(db, master, 3600), "", tmp_path / f"c{n}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2 and results[0][0] == results[1][0]
    assert sorted(made for _, made in results) == [False, True]  # one of them made it
    assert _count(db, accounts) == 1 and _count(db, access_keys) == 1
