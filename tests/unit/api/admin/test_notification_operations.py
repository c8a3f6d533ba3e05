"""The event notification operations through the admin API: per account, authorized as
berth: actions, a bad pattern refused with ValidationError, the secret never returned."""
from __future__ import annotations

import json

PUSH_ONLY = json.dumps({"source": ["aws.ecr"], "detail": {"action-type": ["PUSH"]}})


def test_targets_put_list_delete_as_the_account_root(admin_api):
    account = admin_api.account("team-a").id
    root = admin_api.root_key(account)
    put = admin_api.call(root, "PutEventTarget", {
        "Name": "ci", "Url": "https://ci.example/hook", "EventPattern": PUSH_ONLY,
        "Secret": "s3cret"})
    assert put.status_code == 200, put.text
    target = put.json()["Target"]
    assert target["AccountId"] == account and target["HasSecret"] is True
    assert json.loads(target["EventPattern"]) == json.loads(PUSH_ONLY)
    listed = admin_api.call(root, "ListEventTargets", {})
    assert [t["Name"] for t in listed.json()["Targets"]] == ["ci"]
    assert "s3cret" not in put.text + listed.text
    assert admin_api.call(root, "ListEventDeliveries", {"Dead": "true"}).json() == {
        "Deliveries": []}
    assert admin_api.call(root, "ReplayEventDeliveries", {}).json() == {"Replayed": 0}
    assert admin_api.call(root, "DeleteEventTarget", {"Name": "ci"}).status_code == 200
    gone = admin_api.call(root, "DeleteEventTarget", {"Name": "ci"})
    assert gone.status_code == 404 and gone.json()["__type"] == "ResourceNotFoundException"


def test_a_bad_pattern_is_a_validation_error_naming_the_reason(admin_api):
    root = admin_api.root_key(admin_api.account("team-a").id)
    refused = admin_api.call(root, "PutEventTarget", {
        "Name": "ci", "Url": "https://ci.example/hook",
        "EventPattern": json.dumps({"detail": {"image-tag": [{"numeric": [">", "x"]}]}})})
    assert refused.status_code == 400
    assert refused.json()["__type"] == "ValidationError"
    assert "Event pattern is not valid" in refused.json()["message"]
    assert "detail.image-tag" in refused.json()["message"]
    assert admin_api.call(root, "ListEventTargets", {}).json() == {"Targets": []}


def test_a_user_needs_the_berth_action_and_another_account_is_out_of_reach(admin_api):
    account = admin_api.account("team-a").id
    other = admin_api.account("team-b").id
    plain = admin_api.user_key(account, "plain")
    denied = admin_api.call(plain, "ListEventTargets", {})
    assert denied.status_code == 400 and denied.json()["__type"] == "AccessDeniedException"
    assert "berth:ListEventTargets" in denied.json()["message"]
    allowed = admin_api.user_key(account, "ops", json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "berth:*EventTarget*", "Resource": "*"}]}))
    assert admin_api.call(allowed, "ListEventTargets", {}).status_code == 200
    across = admin_api.call(allowed, "ListEventTargets", {"AccountId": other})
    assert across.json()["__type"] == "AccessDeniedException"
