"""The usage operations of the admin API, on SQLite and PostgreSQL: GetUsageReport is an
account's own (another account's for the administrator account only; users need a policy)
and is validated; RecordUsageSample is the administrator account's; both over the registry
the server wires, with its prices."""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from tests.unit.api.admin.test_storage_operations import (  # noqa: F401  (fixtures)
    _denied,
    _error,
    _ok,
    _policy,
    admin_root,
    api,
    push_image,
    team,
)



def _today():
    """Read when a test runs, not at collection: a suite that crosses midnight UTC would
    otherwise ask for yesterday's report of what it pushed today."""
    today = datetime.now(timezone.utc).date().isoformat()
    return {"From": today, "To": today}


def test_a_sample_then_a_report_of_the_callers_account(api, admin_root, team):
    image = push_image(api.registry_of(team), "team/app", "v1", os.urandom(1000))
    assert _ok(api.call(admin_root, "RecordUsageSample", {})) == {"Repositories": 1}
    report = _ok(api.call(api.root_key(team), "GetUsageReport", _today()))  # its own account
    [group] = report["Groups"]
    assert (group["RepositoryName"], group["StorageByteDays"]) == ("team/app", image)
    assert "Cost" not in group, "no prices are set"
    mine = _ok(api.call(api.root_key(api.account("team-b").id), "GetUsageReport", _today()))
    assert mine["Groups"] == [], "another account's usage is not in the caller's report"


def test_the_administrator_reports_any_account_others_are_denied(api, admin_root, team):
    _ok(api.call(admin_root, "GetUsageReport", {**_today(), "AccountId": team}))
    other = api.account("team-b").id
    _denied(api.call(api.root_key(team), "GetUsageReport", {**_today(), "AccountId": other}),
            "berth:GetUsageReport")
    _denied(api.call(api.user_key(team, "dev", _policy("ecr:*")), "GetUsageReport", _today()),
            "berth:GetUsageReport")
    _ok(api.call(api.user_key(team, "finance", _policy("berth:GetUsageReport")),
                 "GetUsageReport", _today()))


def test_only_the_administrator_account_samples(api, team):
    _denied(api.call(api.root_key(team), "RecordUsageSample", {}), "berth:RecordUsageSample")


@pytest.mark.parametrize("params", [
    {"From": "2026-13-01", "To": "2026-12-31"},
    {"From": "2026-02-02", "To": "2026-02-01"},
    {"From": "2026-02-01", "To": "2026-02-01", "GroupBy": "image"},
    {"From": "2026-02-01"},
])
def test_bad_reports_are_validation_errors(api, team, params):
    _error(api.call(api.root_key(team), "GetUsageReport", params), 400, "ValidationError")
