"""``berth admin gc``: online it starts the sweep as a job on the server
(StartGarbageCollection), which a job runner takes, and asks about it (GetGarbageCollection)
until it ends, then prints the report RunGarbageCollection would; offline it sweeps in the
process, as before."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading

import pytest
from starlette.applications import Starlette

from berth.api.admin import admin_route
from berth.api.admin.errors import AdminError
from berth.app import open_registry
from berth.cli import gc as gc_command
from berth.cli.main import main
from berth.config import Settings
from berth.gc import collector_for, runs_for
from berth.gc.runs import RUN
from berth.gc.tasks import handle_runs
from berth.jobs.queue import JobQueue
from berth.jobs.runner import JobRunner
from berth.storage.metadata import migrate
from berth.storage.metadata.database import Database
from tests.support.repositories import pushes_create
from tests.unit.api.admin.test_storage_operations import LOOSE, push_loose_blob, stored
from tests.unit.api.ecr.test_real_clients import serving

REPORT = {"DryRun", "GraceSeconds", "LinksRemoved", "ObjectsDeleted", "BytesFreed",
          "OrphansFound", "OrphanBytes", "OrphanUploads", "Seconds", "Skipped"}


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def registry(data_dir):
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir()
    migrating = Database(settings.database_url)
    migrate.upgrade(migrating)
    migrating.dispose()
    registry, iam = open_registry(settings)
    pushes_create(registry.db, registry.registry_id)
    registry.iam = iam
    yield registry
    registry.close()


@pytest.fixture
def served(registry, monkeypatch):
    """The admin API of the registry's server, the CLI signing as the administrator root."""
    app = Starlette(routes=[admin_route()])
    app.state.iam, app.state.registry = registry.iam, registry
    identities = registry.iam.identities
    root = identities.create_access_key(identities.admin_account().id)
    for name, value in {"AWS_ACCESS_KEY_ID": root.id, "AWS_SECRET_ACCESS_KEY": root.secret,
                        "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    with serving(app) as url:
        yield url


@contextlib.contextmanager
def running_jobs(registry, handler=None):
    """A node's job runner in a thread of its own, running the gc runs (with ``handler``
    instead of the real one if given)."""
    runner = JobRunner(JobQueue(registry.db, backoff_base=0.01, backoff_cap=0.02),
                       poll_seconds=0.02)
    if handler is None:
        handle_runs(runner, collector_for(registry))
    else:
        runner.register(RUN, handler)
    done = threading.Event()

    async def run() -> None:
        runner.start()
        while not done.is_set():
            await asyncio.sleep(0.02)
        await runner.stop()

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    try:
        yield runner
    finally:
        done.set()
        thread.join(timeout=30)


def berth(capsys, *args: str) -> tuple[int, dict | None, str]:
    status = main(["admin", *args])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def test_online_gc_is_started_as_a_job_and_its_report_printed(registry, served, data_dir,
                                                              capsys):
    key = push_loose_blob(registry, "team/app")
    with running_jobs(registry):
        status, dry, err = berth(capsys, "gc", "--dry-run", "--endpoint-url", served)
        assert status == 0, err
        assert set(dry) == REPORT
        assert (dry["DryRun"], dry["ObjectsDeleted"], dry["BytesFreed"]) == (
            True, 1, len(LOOSE)), dry
        assert key in stored(registry)
        status, done, err = berth(capsys, "gc", "--endpoint-url", served)
    assert status == 0, err
    assert (done["DryRun"], done["LinksRemoved"], done["ObjectsDeleted"], done["BytesFreed"],
            done["GraceSeconds"]) == (False, 1, 1, len(LOOSE), registry.grace_seconds)
    assert key not in stored(registry)
    [run_id] = re.findall(r"garbage collection (\w+) started", err)
    found = runs_for(registry).get(run_id)
    assert found.status == "COMPLETE" and found.report.objects_deleted == 1


def test_a_failed_online_run_is_a_one_line_error(registry, served, capsys):
    def broken(job):
        raise OSError("the storage is unreachable")

    with running_jobs(registry, broken):
        status, out, err = berth(capsys, "gc", "--endpoint-url", served)
    assert (status, out) == (1, None)
    [line] = [text for text in err.splitlines() if text.startswith("berth admin:")]
    assert line.startswith("berth admin: GarbageCollectionFailed: garbage collection ")
    assert line.endswith("failed: OSError: the storage is unreachable")


def test_offline_gc_sweeps_in_the_process(registry, data_dir, capsys):
    key = push_loose_blob(registry, "team/app")
    status, report, err = berth(capsys, "gc", "--data-dir", str(data_dir))
    assert status == 0, err
    assert set(report) == REPORT
    assert (report["DryRun"], report["ObjectsDeleted"]) == (False, 1)
    assert key not in stored(registry)
    assert JobQueue(registry.db).queued().get(RUN, 0) == 0, "no job was queued"


class FakeClient:
    """A server's answers to the CLI's calls, in order (an exception is raised)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def call(self, operation: str, params: dict) -> dict:
        self.calls.append(operation)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _run(status: str, report: dict | None = None) -> dict:
    return {"GarbageCollectionId": "r1", "Status": status, "Report": report,
            "FailureReason": None}


def test_a_server_restarting_meanwhile_is_asked_again(capsys):
    unreachable = [OSError("connection refused")] * (gc_command.UNREACHABLE_POLLS - 1)
    client = FakeClient(_run("QUEUED"), _run("RUNNING"), *unreachable,
                        _run("COMPLETE", {"ObjectsDeleted": 3}))
    assert gc_command.run_online(client, {}, sleep=lambda _: None) == {"ObjectsDeleted": 3}
    gone = FakeClient(_run("QUEUED"), *[OSError("refused")] * gc_command.UNREACHABLE_POLLS)
    with pytest.raises(OSError):
        gc_command.run_online(gone, {}, sleep=lambda _: None)


def test_the_waits_grow_to_a_cap():
    waits = []
    client = FakeClient(_run("QUEUED"), *[_run("RUNNING")] * 30, _run("COMPLETE", {}))
    gc_command.run_online(client, {}, sleep=waits.append)
    assert waits[0] == gc_command.POLL_FIRST and waits[-1] == gc_command.POLL_MAX
    assert waits == sorted(waits)


def test_a_server_without_started_runs_sweeps_in_one_request():
    client = FakeClient(AdminError("UnknownOperationException", "no such operation"),
                        {"ObjectsDeleted": 2})
    assert gc_command.run_online(client, {"DryRun": "false"}) == {"ObjectsDeleted": 2}
    assert client.calls == ["StartGarbageCollection", "RunGarbageCollection"]
    refused = FakeClient(AdminError("AccessDeniedException", "no"))
    with pytest.raises(AdminError):
        gc_command.run_online(refused, {})


def test_answers_that_say_ask_again_are_retried_others_end_the_wait():
    passing = [AdminError("ThrottlingException", "slow down"),
               AdminError("HttpError", "the server answered HTTP 502", 502)]
    client = FakeClient(_run("QUEUED"), *passing, _run("COMPLETE", {"ObjectsDeleted": 1}))
    assert gc_command.run_online(client, {}, sleep=lambda _: None) == {"ObjectsDeleted": 1}
    refused = FakeClient(_run("QUEUED"), AdminError("AccessDeniedException", "no", 400))
    with pytest.raises(AdminError):
        gc_command.run_online(refused, {}, sleep=lambda _: None)


def test_a_run_queued_long_says_why_it_may_be_once(capsys):
    polls = int(gc_command.QUEUED_HINT_SECONDS / gc_command.POLL_MAX) + 20
    client = FakeClient(_run("QUEUED"), *[_run("QUEUED")] * polls, _run("COMPLETE", {}))
    gc_command.run_online(client, {}, sleep=lambda _: None)
    assert capsys.readouterr().err.count("berth worker") == 1
