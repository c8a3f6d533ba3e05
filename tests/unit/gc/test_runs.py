"""Sweeps an operator starts (berth.gc.runs): queued as a job, run by whichever job runner
claims it, their reports kept; a run whose node died is run again; a run whose attempts all
failed says why; old runs go."""
import os
import time

import pytest
from sqlalchemy import text

from berth.gc import collector_for
from berth.gc import runs as runs_module
from berth.gc.runs import COMPLETE, FAILED, QUEUED, RETENTION, RUN, RUNNING, Runs, runs_for
from berth.gc.tasks import handle_runs
from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobContext, JobRunner
from tests.unit.gc.conftest import GRACE, push_blob, stored_keys

LEASE = 60.0


@pytest.fixture
def runner(registry):
    """A node's job runner, with the handler the app factory registers."""
    runner = JobRunner(JobQueue(registry.db), lease_seconds=LEASE)
    handle_runs(runner, collector_for(registry))
    return runner


def run_claimed(runner: JobRunner, now: float | None = None) -> int:
    """Claim the due runs as a runner's poll does (``now``: later, past lapsed leases), run
    them and record how they ended; how many there were."""
    claimed = runner.queue.claim(runner.worker, [RUN], 10, LEASE, now=now)
    for job in claimed:
        runner.execute(job, JobContext(job.id, job.kind, job.payload, job.attempt))
    return len(claimed)


def abandoned_blob(registry) -> str:
    """A blob pushed without a manifest, unreferenced for longer than the grace period."""
    digest = push_blob(registry, "team/app", os.urandom(500))["digest"]
    with registry.db.engine.begin() as conn:
        conn.execute(text("UPDATE repository_blobs SET unreferenced_since = :t"),
                     {"t": time.time() - 3 * GRACE})
    return digest


def test_a_started_run_waits_for_a_runner_then_keeps_its_report(registry, runner):
    abandoned_blob(registry)
    before = stored_keys(registry)
    runs = runs_for(registry)
    started = runs.start(dry_run=False)
    assert (started.status, started.dry_run, started.report) == (QUEUED, False, None)
    assert runs.get(started.id) == started
    assert stored_keys(registry) == before, "nothing is swept before a runner takes it"

    assert run_claimed(runner) == 1
    found = runs.get(started.id)
    assert found.status == COMPLETE and found.failure is None
    assert found.finished_at >= found.requested_at
    report = found.report
    assert (report.dry_run, report.links_unlinked, report.objects_deleted, report.bytes_freed,
            report.grace_seconds) == (False, 1, 1, 500, GRACE)
    assert len(stored_keys(registry)) == len(before) - 1
    assert run_claimed(runner) == 0, "a run is done once"


def test_a_dry_run_counts_and_frees_nothing(registry, runner):
    abandoned_blob(registry)
    before = stored_keys(registry)
    started = runs_for(registry).start(dry_run=True)
    run_claimed(runner)
    report = runs_for(registry).get(started.id).report
    assert (report.dry_run, report.objects_deleted, report.bytes_freed) == (True, 1, 500)
    assert stored_keys(registry) == before


def test_a_run_claimed_is_running(registry, runner):
    started = runs_for(registry).start(dry_run=True)
    [job] = runner.queue.claim(runner.worker, [RUN], 1, LEASE)
    assert runs_for(registry).get(started.id).status == RUNNING
    runner.execute(job, JobContext(job.id, job.kind, job.payload, job.attempt))
    assert runs_for(registry).get(started.id).status == COMPLETE


def test_a_run_ending_between_the_two_reads_of_a_poll_is_not_failed(registry, runner,
                                                                    monkeypatch):
    """A poll reads the job and the run's row as two statements (on PostgreSQL each at its
    own snapshot): the sweep's end committed between them must never read as FAILED."""
    started = runs_for(registry).start(dry_run=True)
    [job] = runner.queue.claim(runner.worker, [RUN], 1, LEASE)
    read_row, ended = runs_module.rows.get, []

    def row_then_the_sweep_ends(tx, run_id):
        found = read_row(tx, run_id)  # as the poll saw it: no report yet
        if not ended:
            ended.append(True)
            runner.execute(job, JobContext(job.id, job.kind, job.payload, job.attempt))
        return found
    monkeypatch.setattr(runs_module.rows, "get", row_then_the_sweep_ends)
    assert runs_for(registry).get(started.id).status == RUNNING
    monkeypatch.setattr(runs_module.rows, "get", read_row)
    assert runs_for(registry).get(started.id).status == COMPLETE


def test_a_run_whose_node_died_mid_sweep_is_run_again(registry, runner):
    abandoned_blob(registry)
    started = runs_for(registry).start(dry_run=False)
    [job] = runner.queue.claim("dead-node", [RUN], 1, LEASE)  # and never heard of again
    assert runs_for(registry).get(started.id).status == RUNNING
    assert run_claimed(runner, now=time.time() + LEASE + 1) == 1
    found = runs_for(registry).get(started.id)
    assert found.status == COMPLETE and found.report.objects_deleted == 1
    assert runner.queue.get(started.id).attempts == 2


def test_a_run_that_kept_failing_says_why(registry):
    class Broken:
        db = registry.db

        def sweep(self, **kwargs):
            raise OSError("the storage is unreachable")

    runner = JobRunner(JobQueue(registry.db), lease_seconds=LEASE)
    handle_runs(runner, Broken())
    started = runs_for(registry).start(dry_run=False)
    later = time.time()
    for attempt in (1, 2, 3):  # each after the backoff of the one before
        later += 3600
        assert run_claimed(runner, now=later) == 1
        status = runs_for(registry).get(started.id).status
        assert status == (FAILED if attempt == 3 else QUEUED)
    found = runs_for(registry).get(started.id)
    assert found.failure == "OSError: the storage is unreachable" and found.report is None


def test_a_run_whose_job_is_gone_has_failed(registry):
    started = runs_for(registry).start(dry_run=False)
    with registry.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM jobs WHERE id = :id"), {"id": started.id})
    found = runs_for(registry).get(started.id)
    assert (found.status, found.report) == (FAILED, None) and found.failure


def test_a_run_that_found_another_sweep_running_says_skipped(registry, runner):
    started = runs_for(registry).start(dry_run=False)
    with registry.db.try_lock("gc-sweep") as held:
        assert held
        run_claimed(runner)
    found = runs_for(registry).get(started.id)
    assert found.status == COMPLETE and found.report.skipped


def test_unknown_and_old_runs_are_not_found(registry):
    runs = Runs(registry.db)
    assert runs.get("0" * 32) is None
    old = runs.start(dry_run=True, now=time.time() - RETENTION - 10)
    assert runs.get(old.id) is not None
    recent = runs.start(dry_run=True)
    assert runs.get(old.id) is None, "pruned when a later run started"
    assert runs.get(recent.id).status == QUEUED
