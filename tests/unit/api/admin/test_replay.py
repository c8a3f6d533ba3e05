"""The admin API authenticates the body and accepts a signed call that changes state once:
an UNSIGNED-PAYLOAD request is refused (and with it its replay with another body), a
captured CreateUser cannot be sent again, and reads can."""
from __future__ import annotations

import json

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth.api.admin import TARGET_PREFIX

from .conftest import URL

MISMATCH = "The request signature we calculated does not match the signature you provided."
REPLAYED = "Rate exceeded: this signed request was received before."


def _captured(key, operation: str, params: dict, unsigned: bool = False) -> dict[str, str]:
    """The headers of a signed call as a client sent them, to send again."""
    request = AWSRequest(method="POST", url=URL, data=json.dumps(params).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"})
    if unsigned:
        request.context["payload_signing_enabled"] = False
    SigV4Auth(Credentials(key.id, key.secret), "berth", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _send(admin_api, headers: dict[str, str], params: dict):
    return admin_api.client.post("/admin", content=json.dumps(params).encode(),
                                 headers=headers)


def _refused(response, code: str = "InvalidSignatureException") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == code
    return response.json()["message"]


def _replayed(response) -> None:
    assert _refused(response, "ThrottlingException").startswith(REPLAYED)


def _users(admin_api, account_id: str) -> list[str]:
    return [u.name for u in admin_api.iam.identities.users(account_id)]


def test_an_unsigned_payload_is_refused_with_any_body(admin_api, admin_root, admin_account):
    params = {"AccountId": admin_account.id, "UserName": "harmless"}
    headers = _captured(admin_root, "CreateUser", params, unsigned=True)
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert _refused(_send(admin_api, headers, params)).startswith(MISMATCH)
    other = {"AccountId": admin_account.id, "UserName": "intruder"}
    assert _refused(_send(admin_api, headers, other)).startswith(MISMATCH)
    assert _users(admin_api, admin_account.id) == []


def test_a_signed_change_is_accepted_once(admin_api, admin_root, admin_account):
    params = {"AccountId": admin_account.id, "UserName": "alice"}
    headers = _captured(admin_root, "CreateUser", params)
    assert _send(admin_api, headers, params).status_code == 200
    _replayed(_send(admin_api, headers, params))
    admin_api.iam.identities.delete_user(admin_account.id, "alice")
    _replayed(_send(admin_api, headers, params))
    assert _users(admin_api, admin_account.id) == []


def test_a_read_may_be_sent_again(admin_api, admin_root, admin_account):
    params = {"AccountId": admin_account.id}
    headers = _captured(admin_root, "ListUsers", params)
    for _ in range(3):
        assert _send(admin_api, headers, params).status_code == 200


def test_a_refused_signature_is_not_used_up(admin_api, admin_root, admin_account):
    params = {"AccountId": admin_account.id, "UserName": "carol"}
    headers = _captured(admin_root, "CreateUser", params)
    tampered = {**params, "UserName": "mallory"}
    assert _refused(_send(admin_api, headers, tampered)).startswith(MISMATCH)
    assert _send(admin_api, headers, params).status_code == 200
    assert _users(admin_api, admin_account.id) == ["carol"]
