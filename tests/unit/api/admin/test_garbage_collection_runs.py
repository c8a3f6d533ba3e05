"""StartGarbageCollection and GetGarbageCollection through the admin API, on SQLite and
PostgreSQL: a sweep too long for one request is started as a job (administrator account
only, as RunGarbageCollection), a job runner takes it, and its report is there to fetch."""
# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)
from __future__ import annotations

import pytest

from berth.gc import collector_for
from berth.gc.runs import RUN
from berth.gc.tasks import handle_runs
from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobContext, JobRunner
from berth.registry.registry import Registry
from tests.unit.api.admin.test_storage_operations import (  # noqa: F401 (fixtures)
    KEPT,
    LOOSE,
    _denied,
    _error,
    _ok,
    _policy,
    admin_root,
    api,
    links,
    push_image,
    push_loose_blob,
    stored,
    team,
)

REPORT = {"DryRun", "GraceSeconds", "LinksRemoved", "ObjectsDeleted", "BytesFreed",
          "OrphansFound", "OrphanBytes", "OrphanUploads", "Seconds", "Skipped"}


def run_jobs(registry: Registry) -> int:
    """What a node's job runner does with the runs queued: claim, run, record the outcome."""
    runner = JobRunner(JobQueue(registry.db))
    handle_runs(runner, collector_for(registry))
    claimed = runner.queue.claim(runner.worker, [RUN], 10, 60)
    for job in claimed:
        runner.execute(job, JobContext(job.id, job.kind, job.payload, job.attempt))
    return len(claimed)


def queued_runs(registry: Registry) -> int:
    return JobQueue(registry.db).queued().get(RUN, 0)


def test_a_started_sweep_is_run_by_a_job_runner_and_reports(api, admin_root, team):
    registry = api.registry_of(team)
    push_image(registry, "team/app", "v1", KEPT)
    key = push_loose_blob(registry, "team/app")
    started = _ok(api.call(admin_root, "StartGarbageCollection", {"DryRun": "false"}))
    run_id = started["GarbageCollectionId"]
    assert (started["Status"], started["DryRun"], started["Report"]) == ("QUEUED", False, None)
    waiting = _ok(api.call(admin_root, "GetGarbageCollection", {"GarbageCollectionId": run_id}))
    assert waiting["Status"] == "QUEUED" and waiting["FinishedAt"] is None
    assert key in stored(registry), "the request only queued the sweep"

    assert run_jobs(api.registry) == 1
    found = _ok(api.call(admin_root, "GetGarbageCollection", {"GarbageCollectionId": run_id}))
    assert set(found) == {"GarbageCollectionId", "Status", "DryRun", "RequestedAt",
                          "FinishedAt", "FailureReason", "Report"}
    assert (found["Status"], found["FailureReason"]) == ("COMPLETE", None)
    assert found["FinishedAt"] >= found["RequestedAt"]
    report = found["Report"]
    assert set(report) == REPORT
    assert (report["DryRun"], report["GraceSeconds"], report["LinksRemoved"],
            report["ObjectsDeleted"], report["BytesFreed"], report["Skipped"]) == (
        False, registry.grace_seconds, 1, 1, len(LOOSE), False), report
    assert key not in stored(registry) and links(registry) == 2


def test_a_started_dry_run_counts_and_changes_nothing(api, admin_root, team):
    registry = api.registry_of(team)
    key = push_loose_blob(registry, "team/app")
    run_id = _ok(api.call(admin_root, "StartGarbageCollection", {"DryRun": "TRUE"}))[
        "GarbageCollectionId"]
    run_jobs(api.registry)
    found = _ok(api.call(admin_root, "GetGarbageCollection", {"GarbageCollectionId": run_id}))
    assert found["DryRun"] is True and found["Report"]["DryRun"] is True
    assert (found["Report"]["ObjectsDeleted"], found["Report"]["BytesFreed"]) == (1, len(LOOSE))
    assert key in stored(registry) and links(registry) == 1


def test_an_unknown_run_is_not_found(api, admin_root):
    message = _error(api.call(admin_root, "GetGarbageCollection",
                              {"GarbageCollectionId": "f" * 32}), 404,
                     "ResourceNotFoundException")
    assert "f" * 32 in message
    _error(api.call(admin_root, "GetGarbageCollection", {}), 400, "ValidationError")


@pytest.mark.parametrize("value", ["maybe", ""])
def test_dry_run_must_be_true_or_false(api, admin_root, value):
    _error(api.call(admin_root, "StartGarbageCollection", {"DryRun": value}), 400,
           "ValidationError")
    assert queued_runs(api.registry) == 0


def test_only_the_administrator_account_starts_or_reads_runs(api, admin_root, team):
    run_id = _ok(api.call(admin_root, "StartGarbageCollection", {}))["GarbageCollectionId"]
    for caller in (api.root_key(team), api.user_key(team, "ops", _policy("berth:*"))):
        message = _denied(api.call(caller, "StartGarbageCollection", {"DryRun": "false"}),
                          "berth:StartGarbageCollection")
        assert "administrator account" in message
        _denied(api.call(caller, "GetGarbageCollection", {"GarbageCollectionId": run_id}),
                "berth:GetGarbageCollection")
    assert queued_runs(api.registry) == 1, "only the administrator's run was queued"


def test_administrator_users_need_a_policy(api):
    admin = api.iam.identities.admin_account().id
    clerk = api.user_key(admin, "clerk")
    _denied(api.call(clerk, "StartGarbageCollection", {}), "berth:StartGarbageCollection")
    operator = api.user_key(admin, "operator", _policy("berth:StartGarbageCollection"))
    run_id = _ok(api.call(operator, "StartGarbageCollection", {}))["GarbageCollectionId"]
    _denied(api.call(operator, "GetGarbageCollection", {"GarbageCollectionId": run_id}),
            "berth:GetGarbageCollection")
    reader = api.user_key(admin, "reader", _policy("berth:GetGarbageCollection"))
    assert _ok(api.call(reader, "GetGarbageCollection", {"GarbageCollectionId": run_id}))[
        "Status"] == "QUEUED"
