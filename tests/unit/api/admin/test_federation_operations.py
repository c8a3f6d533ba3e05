"""The OpenID Connect provider operations through the admin API, with IAM's names: made
(ClientIDList and ThumbprintList as lists, or Berth's JwksDocument), listed, shown, deleted;
another account's provider is not found; refusals are IAM's."""
from __future__ import annotations

import json

from tests.support.oidc_issuer import OidcIssuer


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_providers_through_the_admin_api(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    call = admin_api.call
    made = _ok(call(root, "CreateOpenIDConnectProvider", {
        "Url": "https://token.actions.example.com", "ClientIDList": ["sts.amazonaws.com"],
        "ThumbprintList": ["A" * 40]}))
    arn = made["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{account}:oidc-provider/token.actions.example.com"
    shown = _ok(call(root, "GetOpenIDConnectProvider", {"OpenIDConnectProviderArn": arn}))
    assert shown["ClientIDList"] == ["sts.amazonaws.com"]
    assert shown["ThumbprintList"] == ["a" * 40] and shown["KeysGiven"] is False
    keys = json.dumps(OidcIssuer().jwks())
    given = _ok(call(root, "CreateOpenIDConnectProvider", {
        "Url": "https://air-gapped.example.com/k8s", "ClientIDList": ["sts.amazonaws.com"],
        "JwksDocument": keys}))["OpenIDConnectProviderArn"]
    assert _ok(call(root, "GetOpenIDConnectProvider", {
        "OpenIDConnectProviderArn": given}))["KeysGiven"] is True
    listed = _ok(call(root, "ListOpenIDConnectProviders", {}))["OpenIDConnectProviderList"]
    assert sorted(p["Arn"] for p in listed) == sorted([arn, given])
    other = admin_api.root_key(admin_api.account("team-b").id)
    foreign = call(other, "GetOpenIDConnectProvider", {"OpenIDConnectProviderArn": arn})
    assert foreign.status_code == 400, foreign.text
    assert foreign.json()["__type"] == "AccessDeniedException"  # not its account's
    _ok(call(root, "DeleteOpenIDConnectProvider", {"OpenIDConnectProviderArn": arn}))
    gone = call(root, "GetOpenIDConnectProvider", {"OpenIDConnectProviderArn": arn})
    assert gone.status_code == 404 and gone.json()["__type"] == "NoSuchEntity"


def test_refusals(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    for params, code in (
            ({"Url": "http://issuer.example.com"}, "ValidationError"),
            ({"Url": "https://a.example.com", "ClientIDList": "not-a-list-of-strings",
              "ThumbprintList": [1]}, "ValidationError"),
            ({"Url": "https://a.example.com", "JwksDocument": '{"keys": []}'},
             "InvalidParameterValue")):
        refused = admin_api.call(root, "CreateOpenIDConnectProvider", params)
        assert refused.status_code == 400 and refused.json()["__type"] == code, refused.text
