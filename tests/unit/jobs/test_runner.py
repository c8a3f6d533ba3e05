from berth.jobs.runner import Job, JobRunner
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database


def test_a_job_runs_once_across_runners_until_its_lease_expires(database_url):
    db = Database(database_url)
    migrate.upgrade(db)
    runs = []
    job = Job("count", interval=3600, run=lambda: runs.append(1))
    first, second = JobRunner(db, [job]), JobRunner(db, [job])
    assert first.run_once(job) is True
    assert second.run_once(job) is False  # another node holds the lease
    assert first.run_once(job) is True    # the holder renews it
    assert runs == [1, 1]
    expired = Job("count", interval=-1, run=lambda: runs.append(2))
    assert first.run_once(expired) is True  # a negative interval lets the lease lapse at once
    assert second.run_once(expired) is True
    db.dispose()
