"""The public registry operations through the admin API: an account's public registry with
its default alias (made on first use, the same afterwards), a custom alias it may set for
itself (ECR Public's pattern, free of other registries), never another account's."""
from __future__ import annotations

from berth.public.models import ALIAS
from berth.public.services import PublicRegistries


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["PublicRegistry"]


def test_an_account_gets_its_default_alias_and_sets_another(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    first = _ok(admin_api.call(root, "GetPublicRegistry", {"AccountId": account}))
    assert ALIAS.fullmatch(first["Alias"]) and first["AccountId"] == account
    assert _ok(admin_api.call(root, "GetPublicRegistry", {"AccountId": account})) == first
    changed = _ok(admin_api.call(root, "PutPublicRegistryAlias",
                                 {"AccountId": account, "Alias": "team-a"}))
    assert changed["Alias"] == "team-a"
    assert changed["RegistryUri"] == "public.localhost/team-a"
    assert PublicRegistries(admin_api.iam.db).account_of("team-a") == account


def test_aliases_are_checked_and_not_shared(admin_api):
    a, b = admin_api.account("a").id, admin_api.account("b").id
    _ok(admin_api.call(admin_api.root_key(a), "PutPublicRegistryAlias",
                       {"AccountId": a, "Alias": "shared"}))
    taken = admin_api.call(admin_api.root_key(b), "PutPublicRegistryAlias",
                           {"AccountId": b, "Alias": "shared"})
    assert taken.status_code == 409 and taken.json()["__type"] == "ConflictException"
    for bad in ("A-upper", "x", "1digit", "two--dashes", "a" * 51, "end-"):
        refused = admin_api.call(admin_api.root_key(b), "PutPublicRegistryAlias",
                                 {"AccountId": b, "Alias": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["__type"] == "ValidationError"
    other = admin_api.call(admin_api.root_key(b), "PutPublicRegistryAlias",
                           {"AccountId": a, "Alias": "mine"})
    assert other.json()["__type"] == "AccessDeniedException"
