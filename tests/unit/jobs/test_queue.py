import pytest

from berth.jobs.queue import JobQueue, error_text, retry_delay


@pytest.fixture
def queue(db):
    return JobQueue(db, backoff_base=10, backoff_cap=60, rand=lambda: 1.0)


def test_backoff_doubles_up_to_its_cap_with_jitter():
    assert [retry_delay(n, 10, 60, lambda: 1.0) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert [retry_delay(n, 10, 60, lambda: 0.0) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_failures_retry_with_backoff_until_the_attempts_are_spent(queue):
    job_id = queue.enqueue("k", {"n": 1}, max_attempts=3, now=0)
    now, retry_times = 0.0, []
    for attempt in (1, 2, 3):
        [job] = queue.claim("w", ["k"], 1, lease=5, now=now)
        assert (job.id, job.attempt, job.payload) == (job_id, attempt, {"n": 1})
        assert queue.fail("w", job, f"Boom: {attempt}", now=now)
        row = queue.get(job_id)
        if attempt < 3:
            assert queue.claim("w", ["k"], 1, lease=5, now=row.run_at - 0.001) == []
            retry_times.append(row.run_at - now)
            now = row.run_at
    assert retry_times == [10, 20]
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "Boom: 3")
    assert queue.claim("w", ["k"], 1, lease=5, now=now + 1000) == []


def test_renewal_is_the_holders_only(queue):
    queue.enqueue("k", now=0)
    [job] = queue.claim("a", ["k"], 1, lease=10, now=0)
    assert queue.renew("a", [job], lease=10, now=8) == {job.id}
    assert queue.claim("b", ["k"], 1, lease=10, now=15) == []  # renewed to 18
    [taken] = queue.claim("b", ["k"], 1, lease=10, now=19)
    assert queue.renew("a", [job], lease=10, now=20) == set()  # lost to b
    assert not queue.complete("a", job, now=20)
    assert not queue.fail("a", job, "late", now=20)
    assert queue.complete("b", taken, now=21)
    assert queue.get(job.id).state == "done"


def test_enqueue_joins_the_callers_transaction(queue, db):
    with pytest.raises(RuntimeError):
        with db.write() as tx:
            queue.enqueue("k", tx=tx, key="once")
            raise RuntimeError("the change that asked for the job failed")
    assert queue.claim("w", ["k"], 1, lease=5) == []
    assert queue.enqueue("k", key="once") is not None


def test_prune_keeps_recent_and_unfinished_jobs(queue):
    old = queue.enqueue("k", now=0)
    recent = queue.enqueue("k", now=0)
    waiting = queue.enqueue("k", run_at=10 ** 10, now=0)
    first, second = queue.claim("w", ["k"], 2, lease=5, now=0)
    queue.complete("w", first, now=0)
    queue.complete("w", second, now=2 * 24 * 3600)
    assert queue.prune(now=2 * 24 * 3600) == 1
    assert queue.get(first.id) is None and queue.get(second.id) and queue.get(waiting)
    assert {old, recent} == {first.id, second.id}


def test_error_text_is_short_and_one_line():
    assert error_text(ValueError("bad thing\nsecond line")) == "ValueError: bad thing"
    assert len(error_text(ValueError("x" * 1000))) == 500
    assert error_text(KeyError()) == "KeyError: "


def test_queued_counts_waiting_jobs_by_kind(queue):
    assert queue.queued() == {}
    queue.enqueue("a")
    queue.enqueue("a")
    queue.enqueue("b", run_at=10 ** 10)  # not due yet: still waiting
    claimed = queue.claim("w", ["a"], 1, 60)
    assert len(claimed) == 1
    assert queue.queued() == {"a": 1, "b": 1}
