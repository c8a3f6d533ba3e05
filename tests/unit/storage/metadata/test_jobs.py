import threading
import uuid

from berth.storage.metadata import jobs


def _enqueue(db, kind="k", key=None, run_at=100.0, max_attempts=3):
    job_id = uuid.uuid4().hex
    with db.write() as tx:
        added = jobs.enqueue(tx, job_id, kind, "{}", run_at, max_attempts, key, now=run_at)
    return job_id if added else None


def _claim(db, worker, now, kinds=("k",), lease=10.0, limit=10):
    with db.write() as tx:
        claimed, _ = jobs.claim(tx, worker, list(kinds), now, lease, limit)
    return claimed


def _row(db, job_id):
    with db.read() as tx:
        return jobs.get(tx, job_id)


def test_a_dedup_key_enqueues_once_whatever_the_state(db):
    first = _enqueue(db, key="expire@1")
    assert first is not None
    assert _enqueue(db, key="expire@1") is None
    [job] = _claim(db, "a", now=100)
    with db.write() as tx:
        assert jobs.done(tx, job.id, "a", job.attempts, now=101)
    assert _enqueue(db, key="expire@1") is None  # done, but the key stays spent
    assert _enqueue(db) and _enqueue(db)  # no key: no dedup


def test_claim_takes_due_jobs_of_known_kinds_only(db):
    due = _enqueue(db, run_at=100)
    _enqueue(db, run_at=200)
    _enqueue(db, kind="other", run_at=100)
    with db.read() as tx:
        assert not jobs.claimable(tx, ["k"], now=99)
        assert jobs.claimable(tx, ["k"], now=100)
    [job] = _claim(db, "a", now=150)
    assert (job.id, job.kind, job.attempts) == (due, "k", 1)
    row = _row(db, due)
    assert (row.state, row.claimed_by, row.lease_until) == ("running", "a", 160.0)
    assert _claim(db, "b", now=150) == []  # held: nobody else gets it


def test_a_lapsed_lease_returns_the_job_and_fences_its_old_holder(db):
    job_id = _enqueue(db)
    [mine] = _claim(db, "a", now=100, lease=10)
    assert _claim(db, "b", now=110) == []  # the lease runs to 110 inclusive
    [theirs] = _claim(db, "b", now=110.5)
    assert (theirs.id, theirs.attempts) == (job_id, 2)
    with db.write() as tx:
        assert not jobs.renew(tx, job_id, "a", mine.attempts, until=200)
        assert not jobs.done(tx, job_id, "a", mine.attempts, now=111)
        assert jobs.done(tx, job_id, "b", theirs.attempts, now=111)
    row = _row(db, job_id)
    assert (row.state, row.claimed_by, row.attempts, row.finished_at) == ("done", "b", 2, 111)


def test_renewal_keeps_the_job_held(db):
    job_id = _enqueue(db)
    [job] = _claim(db, "a", now=100, lease=10)
    with db.write() as tx:
        assert jobs.renew(tx, job_id, "a", job.attempts, until=125)
    assert _claim(db, "b", now=120) == []
    assert [j.id for j in _claim(db, "b", now=126)] == [job_id]


def test_a_lapsed_last_attempt_fails_the_job(db):
    job_id = _enqueue(db, max_attempts=1)
    _claim(db, "a", now=100, lease=10)
    with db.write() as tx:
        claimed, spent = jobs.claim(tx, "b", ["k"], 200, 10, 10)
    assert claimed == [] and [r.id for r in spent] == [job_id]
    row = _row(db, job_id)
    assert (row.state, row.finished_at, row.last_error) == (
        "failed", 200, "lease lapsed on the last attempt")


def test_retry_requeues_with_the_error_and_fail_ends_it(db):
    job_id = _enqueue(db)
    [job] = _claim(db, "a", now=100)
    with db.write() as tx:
        assert jobs.retry(tx, job_id, "a", job.attempts, retry_at=130, error="Boom: once")
    row = _row(db, job_id)
    assert (row.state, row.run_at, row.claimed_by, row.last_error) == (
        "queued", 130, None, "Boom: once")
    assert _claim(db, "a", now=129) == []
    [job] = _claim(db, "a", now=130)
    with db.write() as tx:
        assert jobs.fail(tx, job_id, "a", job.attempts, now=131, error="Boom: twice")
    row = _row(db, job_id)
    assert (row.state, row.attempts, row.finished_at, row.last_error) == (
        "failed", 2, 131, "Boom: twice")


def test_prune_deletes_only_old_finished_jobs(db):
    ids = {}
    for name, finished in (("old-done", 10), ("new-done", 90), ("old-failed", 10)):
        ids[name] = _enqueue(db, run_at=0)
        [job] = _claim(db, "a", now=0)
        with db.write() as tx:
            if name.endswith("done"):
                jobs.done(tx, job.id, "a", 1, now=finished)
            else:
                jobs.fail(tx, job.id, "a", 1, now=finished, error="x")
    ids["queued"] = _enqueue(db, run_at=0)
    with db.write() as tx:
        assert jobs.prune(tx, done_before=50, failed_before=5, limit=10) == 1
    assert _row(db, ids["old-done"]) is None
    assert all(_row(db, ids[n]) for n in ("new-done", "old-failed", "queued"))


def test_concurrent_claimers_never_take_the_same_job(db):
    """Threads hammer claim; on PostgreSQL SKIP LOCKED makes them pass over each other's
    rows, on SQLite the write transaction serialises them."""
    expected = {_enqueue(db) for _ in range(120)}
    taken: dict[str, list[str]] = {}
    errors = []

    def claimer(name):
        try:
            while True:
                got = _claim(db, name, now=200, limit=3)
                if not got:
                    with db.read() as tx:
                        if not jobs.claimable(tx, ["k"], now=200):
                            return
                for job in got:
                    taken.setdefault(job.id, []).append(name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(taken) == expected
    assert {job: who for job, who in taken.items() if len(who) > 1} == {}
