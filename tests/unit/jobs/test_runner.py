import asyncio
import logging
import threading
import time

import pytest

from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner


async def _until(predicate, limit=30.0):
    """Wait for a condition the runners bring about; the limit only bounds a hang."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition never came about"
        await asyncio.sleep(0.01)


def _runner(db, **kw):
    queue = JobQueue(db, backoff_base=0.05, backoff_cap=0.2)
    return JobRunner(queue, poll_seconds=0.02, lease_seconds=kw.pop("lease", 3.0), **kw)


def test_a_periodic_job_runs_once_per_slot_across_runners(db):
    runs = []

    async def main():
        nodes = [_runner(db) for _ in range(3)]
        for node in nodes:
            node.every(0.1, "tick", lambda job: runs.append(job.id))
            node.start()
        await _until(lambda: len(runs) >= 8)
        for node in nodes:
            await node.stop()
        return nodes[0].queue

    queue = asyncio.run(main())
    assert len(runs) == len(set(runs))
    rows = [queue.get(job_id) for job_id in runs]
    assert {(row.state, row.attempts) for row in rows} == {("done", 1)}
    assert len({row.run_at for row in rows}) == len(rows)  # one job per slot


def test_a_failing_job_is_retried_until_it_succeeds(db):
    attempts = []

    def flaky(job):
        attempts.append(job.attempt)
        if job.attempt < 3:
            raise OSError(f"storage hiccup {job.attempt}")

    async def main():
        node = _runner(db)
        node.register("flaky", flaky)
        job_id = node.queue.enqueue("flaky", max_attempts=5)
        node.start()
        await _until(lambda: node.queue.get(job_id).state == "done")
        await node.stop()
        return node.queue.get(job_id)

    row = asyncio.run(main())
    assert attempts == [1, 2, 3]
    assert (row.attempts, row.last_error) == (3, "OSError: storage hiccup 2")


def test_a_holder_that_lost_its_lease_is_told_and_cannot_finish(db):
    told = threading.Event()

    def long_job(job):
        if job.cancelled.wait(30):
            told.set()
        raise RuntimeError("stopped: lease lost")

    async def main():
        node = _runner(db, lease=0.6)
        node.register("long", long_job)
        job_id = node.queue.enqueue("long")
        node.start()
        await _until(lambda: node.queue.get(job_id).state == "running")
        # Another node whose clock says the lease lapsed takes the job over.
        [taken] = node.queue.claim("other", ["long"], 1, lease=1000, now=time.time() + 100)
        await _until(told.is_set)
        await _until(lambda: not node._running)
        await node.stop()
        return node.queue.get(job_id), taken

    row, taken = asyncio.run(main())
    assert (row.state, row.claimed_by, row.attempts) == ("running", "other", 2)
    assert taken.attempt == 2 and row.last_error is None  # the old holder recorded nothing


def test_the_lease_is_renewed_while_a_job_runs(db):
    release = threading.Event()

    async def main():
        node = _runner(db, lease=0.6)
        node.register("slow", lambda job: release.wait(30))
        job_id = node.queue.enqueue("slow")
        node.start()
        await _until(lambda: node.queue.get(job_id).state == "running")
        first = node.queue.get(job_id).lease_until
        await _until(lambda: node.queue.get(job_id).lease_until > first)
        release.set()
        await _until(lambda: node.queue.get(job_id).state == "done")
        await node.stop()
        return node.queue.get(job_id)

    assert asyncio.run(main()).attempts == 1


def test_stop_asks_running_jobs_to_stop_and_waits_for_them(db):
    async def main():
        node = _runner(db)
        node.register("polite", lambda job: job.cancelled.wait(30))
        job_id = node.queue.enqueue("polite")
        node.start()
        await _until(lambda: node.queue.get(job_id).state == "running")
        await node.stop()
        return node.queue.get(job_id)

    assert asyncio.run(main()).state == "done"


def test_a_job_that_stops_with_the_node_is_handed_back_without_spending_its_attempt(db, caplog):
    def long_job(job):
        job.cancelled.wait(30)
        raise InterruptedError("stopped half way")  # as long jobs do when cancelled

    async def main():
        node = _runner(db)
        node.register("long", long_job)
        job_id = node.queue.enqueue("long", max_attempts=1)
        node.start()
        await _until(lambda: node.queue.get(job_id).state == "running")
        await node.stop()
        return node.queue.get(job_id)

    with caplog.at_level(logging.INFO, logger="berth.jobs"):
        found = asyncio.run(main())
    assert (found.state, found.attempts, found.last_error) == ("queued", 0, None)
    assert "handed back" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_jobs_of_kinds_this_node_does_not_know_are_left_alone(db):
    async def main():
        node = _runner(db)
        node.register("known", lambda job: None)
        unknown = node.queue.enqueue("from-a-newer-node")
        known = node.queue.enqueue("known")
        node.start()
        await _until(lambda: node.queue.get(known).state == "done")
        await node.stop()
        return node.queue.get(unknown)

    assert asyncio.run(main()).state == "queued"


def test_settings_that_would_spin_or_never_run_are_refused(db):
    for bad in ({"poll_seconds": 0}, {"lease_seconds": 0}, {"concurrency": 0}):
        with pytest.raises(ValueError):
            JobRunner(JobQueue(db), **bad)


def test_a_runner_built_before_a_fork_names_each_process_that_starts_it():
    """Serving workers fork from a supervisor that built the application, runner included:
    each must claim and renew jobs under a name of its own, or one worker could complete or
    renew another's lease."""
    import os
    from types import SimpleNamespace

    fake_db = SimpleNamespace(on_work=lambda listener: (lambda: None))
    runner = JobRunner(SimpleNamespace(db=fake_db, prune=lambda: None))

    def started_in_child() -> str:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                async def start():
                    runner.start()
                    for task in runner._tasks:
                        task.cancel()
                asyncio.run(start())
                os.write(write, runner.worker.encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as answer:
            name = answer.read().decode()
        os.waitpid(pid, 0)
        assert f":{pid}:" in name
        return name

    names = {started_in_child(), started_in_child(), runner.worker}
    assert len(names) == 3
