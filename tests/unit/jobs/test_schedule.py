import pytest

from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner
from berth.jobs.schedule import Schedule


def test_every_node_enqueues_a_slot_and_it_is_queued_once(db):
    nodes = [JobRunner(JobQueue(db)) for _ in range(3)]
    for node in nodes:
        node.every(60, "tick", lambda job: None)
    for now in (120, 130, 179.9, 180):  # slots 2, 2, 2, 3
        for node in nodes:
            node.enqueue_due(now)
    claimed = nodes[0].queue.claim("w", ["tick"], 10, lease=5, now=180)
    assert sorted(nodes[0].queue.get(job.id).run_at for job in claimed) == [120, 180]
    assert {job.attempt for job in claimed} == {1}


def test_an_interval_longer_than_finished_jobs_are_kept_is_refused():
    Schedule("daily", 24 * 3600)
    with pytest.raises(ValueError):
        Schedule("weekly", 7 * 24 * 3600)
    with pytest.raises(ValueError):
        Schedule("never", 0)
