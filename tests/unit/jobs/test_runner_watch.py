"""Work on demand in the job runner: outbox delivery runs at once after this process commits
events, is found by the periodic look when another process commits them, queues no job rows
while idle, and stops with the node."""
import asyncio
import logging
import threading
import time

from sqlalchemy import func, select

from berth.events import Outbox, Subscriber
from berth.events.tasks import schedule_delivery
from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner
from berth.jobs.watch import Watch
from berth.storage.metadata.database import Database
from berth.storage.metadata.work_signal import EVENTS, WORK
from berth.storage.metadata.schema import jobs


async def _until(predicate, limit=30.0):
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition never came about"
        await asyncio.sleep(0.005)


def _emit(db, n=1):
    with db.write() as tx:
        for i in range(n):
            tx.emit("test.event", 1, "repo", f'{{"n": {i}}}')


def _delivering(db, seen: list, poll: float, look: float) -> JobRunner:
    runner = JobRunner(JobQueue(db), poll_seconds=poll)
    subscriber = Subscriber("test", lambda tx, events: seen.extend(e.id for e in events))
    schedule_delivery(runner, Outbox(db), [subscriber], look)
    return runner


async def _delivery_time(db, emitting, seen: list) -> float:
    """Seconds from an event committed through ``emitting`` to its delivery by a runner on
    ``db`` that would look again only after 30 s."""
    runner = _delivering(db, seen, poll=30.0, look=30.0)
    runner.start()
    await _until(lambda: Outbox(db).positions().get("test") is not None)  # first look
    await asyncio.sleep(0.3)  # the looks that follow it are over
    started = time.monotonic()
    await asyncio.to_thread(_emit, emitting)
    await _until(lambda: seen, limit=10.0)
    elapsed = time.monotonic() - started
    await runner.stop()
    return elapsed


def test_events_this_process_commits_are_delivered_at_once_not_at_the_next_look(db):
    seen = []
    assert asyncio.run(_delivery_time(db, db, seen)) < 5.0  # a look would come after 30 s
    assert len(seen) == 1


def test_events_another_process_commits_are_found_by_the_look(db):
    seen = []
    other = Database(db.url)  # its commits tell this runner nothing

    async def main():
        runner = _delivering(db, seen, poll=0.1, look=0.1)
        runner.start()
        await _until(lambda: Outbox(db).positions().get("test") is not None)
        await asyncio.to_thread(_emit, other, 3)
        await _until(lambda: len(seen) == 3)
        await runner.stop()

    try:
        asyncio.run(main())
    finally:
        other.dispose()


def test_an_idle_deployment_queues_no_job_for_delivery(db):
    seen = []

    async def main():
        runner = _delivering(db, seen, poll=0.02, look=0.02)
        runner.start()
        await asyncio.sleep(1.0)  # about fifty looks
        await asyncio.to_thread(_emit, db)
        await _until(lambda: seen)
        await runner.stop()

    asyncio.run(main())
    with db.read() as tx:
        kinds = dict(tx.all(select(jobs.c.kind, func.count().label("n")).group_by(jobs.c.kind)))
    assert not [k for k in kinds if k.startswith("events:")], kinds


def test_a_busy_stream_is_delivered_in_batches_in_order(db):
    seen = []

    async def main():
        runner = _delivering(db, seen, poll=1.0, look=1.0)
        runner.start()
        await _until(lambda: Outbox(db).positions().get("test") is not None)
        for _ in range(50):
            await asyncio.to_thread(_emit, db)
        await _until(lambda: len(seen) == 50)
        await runner.stop()

    asyncio.run(main())
    assert seen == sorted(seen) and len(set(seen)) == 50


def test_stop_asks_a_running_watched_handler_to_stop_and_waits_for_it(db):
    entered, left = threading.Event(), threading.Event()

    def handler(job):
        entered.set()
        job.cancelled.wait(30)
        left.set()

    async def main():
        runner = JobRunner(JobQueue(db), poll_seconds=0.05)
        runner.watch(Watch(lambda: ["long"], {"long": handler}, look=0.05))
        runner.start()
        await _until(entered.is_set)
        began = time.monotonic()
        await runner.stop()
        return time.monotonic() - began

    assert asyncio.run(main()) < 10
    assert left.is_set()


def test_a_failing_handler_is_tried_again_after_its_backoff_while_others_go_on(db):
    calls = {"bad": 0, "good": 0}

    def bad(job):
        calls["bad"] += 1
        raise OSError("target down")

    def good(job):
        calls["good"] += 1

    async def main():
        runner = JobRunner(JobQueue(db), poll_seconds=0.02)
        runner.watch(Watch(lambda: ["bad", "good"], {"bad": bad, "good": good}, look=0.02,
                           gap=0.02, backoff_base=0.3, backoff_cap=0.3))
        runner.start()
        began = time.monotonic()
        await _until(lambda: calls["good"] >= 20 and calls["bad"] >= 2)
        elapsed = time.monotonic() - began
        await runner.stop()
        return elapsed

    elapsed = asyncio.run(main())
    assert calls["bad"] <= 2 + elapsed / 0.3  # once per backoff, not once per look


def _pg(postgres, postgres_template) -> tuple[Database, Database]:
    url = postgres.create_database(template=postgres_template)
    return Database(url), Database(url)


def test_on_postgresql_events_another_node_commits_are_delivered_at_once(postgres,
                                                                          postgres_template):
    seen = []
    db, other = _pg(postgres, postgres_template)  # two nodes of one deployment
    try:
        assert asyncio.run(_delivery_time(db, other, seen)) < 5.0  # NOTIFY, not the look
    finally:
        db.dispose()
        other.dispose()


def test_on_postgresql_a_listener_whose_connection_is_cut_listens_again(postgres,
                                                                         postgres_template):
    seen = []
    db, other = _pg(postgres, postgres_template)
    listening = ("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN berth_work' "
                 "AND datname = current_database()")

    def cut() -> list[int]:
        pids = listeners()
        with other.engine.connect() as conn:
            for pid in pids:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            conn.commit()
        return pids

    def listeners() -> list[int]:
        with other.engine.connect() as conn:
            return [row[0] for row in conn.exec_driver_sql(listening)]

    async def main():
        runner = _delivering(db, seen, poll=30.0, look=30.0)
        runner.start()
        await _until(lambda: Outbox(db).positions().get("test") is not None)
        await _until(lambda: len(listeners()) == 1)
        old = await asyncio.to_thread(cut)
        await _until(lambda: listeners() and not set(listeners()) & set(old))  # listens again
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_emit, other)
        await _until(lambda: seen, limit=10.0)
        await runner.stop()

    try:
        asyncio.run(main())
    finally:
        db.dispose()
        other.dispose()


def test_a_poll_that_fails_does_not_spin(db, caplog):
    polls = []

    def down(*args, **kwargs):
        polls.append(time.monotonic())
        raise OSError("database unreachable")

    async def main():
        runner = JobRunner(JobQueue(db), poll_seconds=0.2)
        runner.watch(Watch(lambda: [], {"k": lambda job: None}, look=0.2))
        runner.queue.claim = down
        runner.start()
        await asyncio.sleep(1.0)
        await runner.stop()

    with caplog.at_level(logging.INFO, logger="berth.jobs"):
        asyncio.run(main())
    assert 2 <= len(polls) <= 8  # once per poll interval, not as fast as it fails
    failed = [r for r in caplog.records if "job queue poll failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info  # once per outage, with its cause


def test_a_look_that_fails_is_logged_once_per_outage(db, caplog):
    down = threading.Event()
    down.set()

    def pending():
        if down.is_set():
            raise OSError("database unreachable")
        return []

    async def main():
        runner = JobRunner(JobQueue(db), poll_seconds=0.05)
        runner.watch(Watch(pending, {"k": lambda job: None}, look=0.05))
        runner.start()
        await asyncio.sleep(0.5)
        down.clear()
        await asyncio.sleep(0.3)
        down.set()
        await asyncio.sleep(0.3)
        await runner.stop()

    with caplog.at_level(logging.INFO, logger="berth.jobs"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "pending work" in r.getMessage()]
    assert [line.split(";")[0].split(" (")[0] for line in lines] == [
        "looking for pending work failed", "looking for pending work works again",
        "looking for pending work failed"], lines


def test_news_that_comes_while_the_runner_waits_out_a_nudge_gap_is_heard(db, monkeypatch):
    monkeypatch.setattr("berth.jobs.runner.NUDGE_GAP", 0.5)
    work, ran = threading.Event(), threading.Event()

    async def main():
        runner = JobRunner(JobQueue(db), poll_seconds=30.0)
        runner.watch(Watch(lambda: ["k"] if work.is_set() else [],
                           {"k": lambda job: ran.set()}, news=WORK, look=30.0))
        runner.start()
        await asyncio.sleep(0.3)  # the first look is over: the next is 30 s away
        runner._hear(frozenset({EVENTS}))  # news for no watch: the runner waits out a gap
        await asyncio.sleep(0.2)
        work.set()
        runner._hear(frozenset({WORK}))  # during that gap
        began = time.monotonic()
        await _until(ran.is_set, limit=10.0)
        await runner.stop()
        return time.monotonic() - began

    assert asyncio.run(main()) < 5.0
