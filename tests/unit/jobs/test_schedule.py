import pytest

from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner
from berth.jobs.schedule import Schedule


def test_every_node_enqueues_a_slot_and_it_is_queued_once(db):
    nodes = [JobRunner(JobQueue(db)) for _ in range(3)]
    for node in nodes:
        node.every(60, "tick", lambda job: None)
    for now in (120, 130, 179.9):  # slot 2, three times on each node
        for node in nodes:
            node.enqueue_due(now)
    claimed = nodes[0].queue.claim("w", ["tick"], 10, lease=5, now=180)
    assert [nodes[0].queue.get(job.id).run_at for job in claimed] == [120]
    assert {job.attempt for job in claimed} == {1}


def test_a_slot_that_comes_while_the_last_one_waits_is_not_queued(db):
    node = JobRunner(JobQueue(db))
    node.every(60, "tick", lambda job: None)
    node.enqueue_due(120)
    node.enqueue_due(180)  # slot 3 while slot 2 has not run: one job does the work of both
    claimed = node.queue.claim("w", ["tick"], 10, lease=5, now=200)
    assert [node.queue.get(job.id).run_at for job in claimed] == [120]
    node.queue.complete("w", claimed[0], now=201)
    node.enqueue_due(240)  # slot 4, nothing waiting: queued
    again = node.queue.claim("w", ["tick"], 10, lease=5, now=250)
    assert [node.queue.get(job.id).run_at for job in again] == [240]


def test_an_interval_longer_than_finished_jobs_are_kept_is_refused():
    Schedule("daily", 24 * 3600)
    with pytest.raises(ValueError):
        Schedule("weekly", 7 * 24 * 3600)
    with pytest.raises(ValueError):
        Schedule("never", 0)
