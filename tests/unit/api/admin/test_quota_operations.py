"""The quota operations through the admin API: the administrator's account sets and drops an
account's or the deployment's quota; an account sees its own values and their sources but may
not raise them; refusals are ValidationErrors."""
from __future__ import annotations


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _shown(admin_api, key, account: str | None = None) -> dict:
    params = {} if account is None else {"AccountId": account}
    return {q["QuotaName"]: (q["Value"], q["Source"])
            for q in _ok(admin_api.call(key, "ListServiceQuotas", params))["Quotas"]}


def test_the_administrator_sets_quotas_and_an_account_reads_its_own(admin_api, admin_root):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    assert _shown(admin_api, root)["ImagesPerRepository"] == (10_000, "default")
    _ok(admin_api.call(admin_root, "PutServiceQuota", {"QuotaName": "ImagesPerRepository",
                                                       "Value": "300"}))
    _ok(admin_api.call(admin_root, "PutServiceQuota", {
        "AccountId": account, "QuotaName": "Rate:PutImage", "Value": "50"}))
    shown = _shown(admin_api, root)
    assert shown["ImagesPerRepository"] == (300, "deployment")
    assert shown["Rate:PutImage"] == (50, "account")
    raised = admin_api.call(root, "PutServiceQuota", {
        "AccountId": account, "QuotaName": "ImagesPerRepository", "Value": "99999"})
    assert raised.status_code == 400 and raised.json()["__type"] == "AccessDeniedException"
    _ok(admin_api.call(admin_root, "DeleteServiceQuota", {"AccountId": account,
                                                          "QuotaName": "Rate:PutImage"}))
    assert _shown(admin_api, root)["Rate:PutImage"] == (10, "default")


def test_refusals(admin_api, admin_root):
    for params in ({"QuotaName": "NoSuchQuota", "Value": "1"},
                   {"QuotaName": "ImagesPerRepository", "Value": "many"},
                   {"QuotaName": "ImagesPerRepository", "Value": "-3"}):
        refused = admin_api.call(admin_root, "PutServiceQuota", params)
        assert refused.status_code == 400 and refused.json()["__type"] == "ValidationError"
    unknown = admin_api.call(admin_root, "PutServiceQuota", {
        "AccountId": "999999999999", "QuotaName": "ImagesPerRepository", "Value": "1"})
    assert unknown.status_code == 404
