"""When policies run (berth.lifecycle.tasks.run_due, services.put_policy): a replaced policy
is due at once (its predecessor's run time is not its own), and one repository whose run
fails does not keep the others from running."""
from __future__ import annotations


from berth.lifecycle import run, tasks
from berth.lifecycle.services import LifecycleService
from tests.unit.lifecycle.test_run import INTERVAL, NOW, policy_text
from tests.unit.lifecycle.test_run import registry  # noqa: F401  (the fixture)
from tests.unit.lifecycle.test_run import repository, stored

ANY_OLD = policy_text(("any", "sinceImagePushed", 1))


def test_a_replaced_policy_is_due_at_once(registry):  # noqa: F811
    name = "team/replaced"
    repository(registry, name, evaluated=NOW - 60)
    service = LifecycleService(registry.db, registry.registry_id)
    assert service.get_policy(name).last_evaluated_at == NOW - 60
    assert tasks.run_due(registry.db, INTERVAL, now=NOW) == []  # ran a minute ago
    service.put_policy(name, ANY_OLD)
    assert service.get_policy(name).last_evaluated_at is None  # never run, this one
    assert [r.repository for r in tasks.run_due(registry.db, INTERVAL, now=NOW)] == [name]


def test_a_failing_repository_does_not_stop_the_others(registry, monkeypatch):  # noqa: F811
    first, second = "team/a-first", "team/b-second"
    repository(registry, first)
    repository(registry, second)
    real = run.run_repository

    def failing(db, registry_id, repo, name, *args, **kwargs):
        if name == first:
            raise RuntimeError("this repository's run fails")
        return real(db, registry_id, repo, name, *args, **kwargs)

    monkeypatch.setattr(tasks, "run_repository", failing)
    reports = tasks.run_due(registry.db, INTERVAL, now=NOW)
    assert [r.repository for r in reports] == [second]
    assert stored(registry.db, second) == set()  # its untagged image expired
    assert LifecycleService(registry.db, registry.registry_id).get_policy(
        first).last_evaluated_at is None  # not marked: it runs again next check
    assert len(stored(registry.db, first)) == 1
