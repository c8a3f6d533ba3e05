"""Managing customer keys, on SQLite and PostgreSQL: ids and ARNs, listing per account and
region, lookup by id, ARN or alias, and the managed default key made once."""
import re

import pytest

from berth.iam.identities import IdentityService
from berth.keys import KeyNotFound, KeyServiceError
from tests.unit.keys.conftest import REGION

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_create_gives_an_id_and_an_arn(keys, account):
    key = keys.service.create(account, REGION, "for the web team")
    assert re.fullmatch(_UUID, key.id)
    assert key.arn == f"arn:aws:kms:{REGION}:{account}:key/{key.id}"
    assert key.ref == f"kms-{key.id}"
    assert (key.enabled, key.version, key.description, key.managed) == (
        True, 1, "for the web team", False)


def test_list_per_account_and_region(db, master, keys, account):
    other = IdentityService(db, master).create_account("other").id
    a = keys.service.create(account, REGION)
    b = keys.service.create(account, "eu-west-1")
    keys.service.create(other, REGION)
    assert [k.id for k in keys.service.list(account)] == [a.id, b.id]
    assert [k.id for k in keys.service.list(account, REGION)] == [a.id]
    assert keys.service.list("000000000000") == []


def test_describe_by_id_arn_or_alias_within_the_account_and_region(db, master, keys, account):
    key = keys.service.create(account, REGION)
    assert keys.service.describe(account, REGION, key.id) == key
    assert keys.service.describe(account, "eu-west-1", key.arn) == key  # the ARN's region
    other = IdentityService(db, master).create_account("other").id
    for spec, where in ((key.id, (other, REGION)), (key.id, (account, "eu-west-1")),
                        ("alias/aws/ecr", (account, REGION)), ("alias/mine", (account, REGION)),
                        ("not-a-key", (account, REGION)),
                        (key.arn.replace(account, other), (account, REGION))):
        with pytest.raises(KeyNotFound):
            keys.service.describe(*where, spec)


def test_managed_default_is_made_once_per_account_and_region(db, keys, account):
    with db.write() as tx:
        first = keys.service.managed_default(tx, account, REGION)
    with db.write() as tx:
        again = keys.service.managed_default(tx, account, REGION)
        elsewhere = keys.service.managed_default(tx, account, "eu-west-1")
    assert first == again and first.managed and first.alias == "aws/ecr"
    assert elsewhere.id != first.id
    assert keys.service.describe(account, REGION, "alias/aws/ecr") == first
    assert keys.service.describe(account, REGION,
                                 f"arn:aws:kms:{REGION}:{account}:alias/aws/ecr") == first


def test_refusals(keys, account):
    with pytest.raises(KeyNotFound):
        keys.service.create("000000000000", REGION)
    with pytest.raises(KeyServiceError):
        keys.service.create(account, REGION, "x" * 8193)
    with pytest.raises(KeyNotFound):
        keys.service.set_enabled(account, REGION, "00000000-0000-4000-8000-000000000000",
                                 False)
    with pytest.raises(KeyNotFound):
        keys.service.rotate(account, REGION, "00000000-0000-4000-8000-000000000000")
