"""Deliveries: made once per event and matching target in the subscriber's transaction, sent
in order per (target, repository), retried with exponential backoff and jitter, dead after
the last attempt and replayable; signed with the target's sealed secret."""
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy.dialects import sqlite

from berth.events import Outbox
from berth.iam.identities import IdentityService
from berth.keys.master import MasterKey
from berth.notifications import delivery, subscriber
from berth.notifications.delivery import Backoff, Deliverer
from berth.notifications.sender import DeliveryFailed
from berth.notifications.models import NotificationError
from berth.notifications.services import DeliveryService, TargetService
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.storage.blobs import FilesystemDriver
from berth.storage.metadata import notifications as rows
from berth.storage.metadata import registries as registry_rows
from tests.support.repositories import pushes_create

OCI = "application/vnd.oci.image.manifest.v1+json"
ACCOUNT = "123456789012"


class FakeSender:
    """Records what is POSTed; ``fail(delivery body) -> DeliveryFailed | None``."""

    def __init__(self):
        self.sent: list[tuple[str, dict, dict]] = []
        self.fail = lambda body: None

    def post(self, url, body, headers):
        event = json.loads(body)
        self.sent.append((url, event, headers))
        failure = self.fail(event)
        if failure is not None:
            raise failure


class Clock:
    def __init__(self):
        self.now = time.time() + 60  # ahead of the rows the test makes

    def __call__(self):
        return self.now


@pytest.fixture
def setup(db, tmp_path):
    master = MasterKey(os.urandom(32))
    IdentityService(db, master).create_account("team", ACCOUNT)
    with db.write() as tx:
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, "us-west-2")
    registry = Registry.create(db, FilesystemDriver(tmp_path / "blobs"), 4 << 20, registry_id)
    pushes_create(registry.db, registry.registry_id)
    targets = TargetService(db, master)
    sender, clock = FakeSender(), Clock()
    deliverer = Deliverer(db, targets, sender, max_attempts=3,
                          backoff=Backoff(base=10, cap=100, rand=lambda: 1.0), clock=clock)
    return registry, targets, sender, clock, deliverer, master


def _push(registry, repository, tag, layer: bytes) -> str:
    blobs = []
    for data in (b"{}", layer):
        registry.uploads.put_small(repository, Digest.of(data), data)
        blobs.append({"mediaType": "application/octet-stream", "digest": str(Digest.of(data)),
                      "size": len(data)})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI, "config": blobs[0],
                       "layers": blobs[1:]}).encode()
    return str(registry.manifests.put(repository, tag, body, OCI).digest)


def _feed(db):
    Outbox(db).deliver(subscriber.subscriber())


def _run(deliverer, targets, name="hook"):
    return deliverer.run(targets.get(ACCOUNT, name).id)


def _tags(sender):
    return [(e["detail"]["repository-name"], e["detail"].get("image-tag")) for _, e, _ in
            sender.sent]


def test_each_matching_target_gets_each_event_once(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    targets.put(ACCOUNT, "team-b", "http://127.0.0.1:1/b",
                json.dumps({"detail": {"repository-name": [{"prefix": "team-b/"}]}}))
    _push(registry, "team-a/web", "v1", b"one")
    _push(registry, "team-b/api", "v1", b"two")
    registry.manifests.delete("team-a/web", "v1")
    _feed(registry.db)
    _feed(registry.db)  # the cursor moved with the rows: nothing is made twice
    assert _run(deliverer, targets) == 3
    assert _run(deliverer, targets, "team-b") == 1
    urls = [url for url, _, _ in sender.sent]
    assert urls.count("http://127.0.0.1:1/a") == 3 and urls.count("http://127.0.0.1:1/b") == 1
    assert [e["detail"]["action-type"] for _, e, _ in sender.sent[:3]] == [
        "PUSH", "PUSH", "DELETE"]
    headers = [h for _, _, h in sender.sent]
    assert len({h["X-Berth-Delivery"] for h in headers}) == 4
    assert all(h["X-Berth-Event-Id"] == e["id"] for _, e, h in sender.sent)
    assert _run(deliverer, targets) == 0  # delivered: never sent again


def _sqlite_plan(db, statement, **params) -> list[str]:
    compiled = statement.compile(dialect=sqlite.dialect())
    values = compiled.construct_params(params)
    raw = sqlite3.connect(db.url.removeprefix("sqlite:///"))
    try:
        return [row[-1] for row in raw.execute(
            "EXPLAIN QUERY PLAN " + str(compiled),
            [values[name] for name in compiled.positiontup]).fetchall()]
    finally:
        raw.close()


def test_targets_with_due_deliveries_are_found_without_scanning_the_whole_queue(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "live", "http://127.0.0.1:1/a")
    targets.put(ACCOUNT, "down", "http://127.0.0.1:1/b")
    targets.put(ACCOUNT, "idle", "http://127.0.0.1:1/c",
                json.dumps({"detail": {"repository-name": ["nothing-here"]}}))
    ids = {name: targets.get(ACCOUNT, name).id for name in ("live", "down", "idle")}
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    assert set(deliverer.due_targets()) == {ids["live"], ids["down"]}
    sender.fail = lambda event: (DeliveryFailed("HTTP 500", unreachable=False)
                                 if sender.sent[-1][0].endswith("/b") else None)
    _run(deliverer, targets, "live")
    _run(deliverer, targets, "down")  # failed: waits for its retry, due no more
    assert deliverer.due_targets() == []
    clock.now += 1000
    assert deliverer.due_targets() == [ids["down"]]
    if registry.db.url.startswith("sqlite"):
        # Delivered rows are kept a day: each look must search a target's queue index, never
        # read every row.
        details = _sqlite_plan(registry.db, rows._due_targets(), now=clock.now)
        assert any("SEARCH notification_deliveries USING" in d for d in details), details
        assert not any(d.startswith("SCAN notification_deliveries") for d in details), details


def test_a_runs_outcomes_are_written_together_and_nothing_is_sent_twice(setup, monkeypatch):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    arriving = [("app", "v2"), ("lib", "v1")]

    def a_push_arrives(event):  # while the run sends: the next pass finds it
        if arriving:
            _push(registry, *arriving.pop(0), os.urandom(8))
            _feed(registry.db)
        return None
    sender.fail = a_push_arrives
    monkeypatch.setattr(delivery.Outcomes, "SECONDS", 60.0)  # a slow machine flushes alike
    writes = []
    flush = delivery.Outcomes.flush
    monkeypatch.setattr(delivery.Outcomes, "flush",
                        lambda self: (writes.append(len(self.pending)), flush(self))[1])
    assert _run(deliverer, targets) == 3  # three passes found one each, then none
    assert _tags(sender) == [("app", "v1"), ("app", "v2"), ("lib", "v1")]
    assert [n for n in writes if n] == [3]  # one transaction for the run, not one a pass
    assert deliverer.due_targets() == [] and _run(deliverer, targets) == 0


def test_a_target_gets_only_events_after_its_creation(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    _push(registry, "app", "old", b"old")
    time.sleep(0.01)
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    _push(registry, "app", "new", b"new")
    _feed(registry.db)
    _run(deliverer, targets)
    assert _tags(sender) == [("app", "new")]


def test_order_holds_per_repository_while_others_go_on(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    for tag in ("a1", "a2"):
        _push(registry, "a", tag, tag.encode())
    _push(registry, "b", "b1", b"b1")
    _feed(registry.db)
    failing = {"a1"}
    sender.fail = lambda e: (DeliveryFailed("HTTP 500", unreachable=False)
                             if e["detail"]["image-tag"] in failing else None)
    _run(deliverer, targets)
    # a1 failed: a2 waits behind it; b's delivery is not held up.
    assert _tags(sender) == [("a", "a1"), ("b", "b1")]
    assert _run(deliverer, targets) == 0  # a1 waits for its retry
    clock.now += 10
    failing.clear()
    _run(deliverer, targets)
    assert _tags(sender)[2:] == [("a", "a1"), ("a", "a2")]


def test_a_repository_with_a_long_blocked_queue_holds_no_other_back(setup, monkeypatch):
    """More deliveries of one waiting repository than a page holds: the other
    repository's delivery behind them is still sent in the same run."""
    monkeypatch.setattr(delivery, "BATCH", 3)
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    for i in range(7):
        _push(registry, "a", f"a{i}", f"a{i}".encode())
    _push(registry, "b", "b1", b"b1")
    _feed(registry.db)
    sender.fail = lambda e: (DeliveryFailed("HTTP 500", unreachable=False)
                             if e["detail"]["repository-name"] == "a" else None)
    _run(deliverer, targets)
    assert _tags(sender) == [("a", "a0"), ("b", "b1")]
    clock.now += 10  # a0's retry is due; it fails again and a1..a6 stay behind it
    assert _run(deliverer, targets) == 1 and _tags(sender)[2:] == [("a", "a0")]


def test_an_unreachable_target_ends_the_run(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    for repository in ("a", "b", "c"):
        _push(registry, repository, "v1", repository.encode())
    _feed(registry.db)
    sender.fail = lambda e: DeliveryFailed("ConnectionRefused", unreachable=True)
    assert _run(deliverer, targets) == 1


def test_retries_back_off_then_the_delivery_is_dead_and_can_be_replayed(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    sender.fail = lambda e: DeliveryFailed("HTTP 503", unreachable=False)
    start = clock.now
    waits = []
    for _ in range(3):
        assert _run(deliverer, targets) == 1
        with registry.db.read() as tx:
            [row] = rows.pending(tx, targets.get(ACCOUNT, "hook").id, 10) or [None]
        if row is None:
            break
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    assert waits == [10, 20]  # base 10, doubling (rand 1: the full delay)
    deliveries = DeliveryService(registry.db)
    [(name, dead)] = deliveries.list(ACCOUNT, dead=True)
    assert name == "hook" and dead.state == "dead" and dead.attempts == 3
    assert dead.last_error == "HTTP 503"
    assert _run(deliverer, targets) == 0
    sender.fail = lambda e: None
    assert deliveries.replay(ACCOUNT, "hook") == 1
    assert _run(deliverer, targets) == 1
    assert deliveries.list(ACCOUNT, dead=True) == []
    assert clock.now - start == 30


def test_backoff_is_exponential_capped_with_jitter():
    low = Backoff(base=2, cap=10, rand=lambda: 0.0)
    high = Backoff(base=2, cap=10, rand=lambda: 1.0)
    assert [low.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert [high.delay(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    spread = {Backoff(base=2, cap=10).delay(3) for _ in range(50)}
    assert len(spread) > 1 and all(4 <= d <= 8 for d in spread)


def test_the_secret_is_sealed_signs_the_body_and_is_never_returned(setup):
    registry, targets, sender, clock, deliverer, master = setup
    target = targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a", secret="s3cret")
    assert target.has_secret and "s3cret" not in repr(target)
    with registry.db.read() as tx:
        [row] = rows.targets(tx, ACCOUNT, "hook")
    assert b"s3cret" not in bytes(row.secret)
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    _run(deliverer, targets)
    [(_, event, headers)] = sender.sent
    with registry.db.read() as tx:
        [delivery] = rows.listed(tx, ACCOUNT, None, None, 10)
    expected = hmac.new(b"s3cret", delivery.body.encode(), hashlib.sha256).hexdigest()
    assert headers["X-Berth-Signature-256"] == f"sha256={expected}"


@pytest.mark.parametrize("url", ["ftp://host/x", "http://", "not a url",
                                 "http://user:pw@host/x", "http://host:99999/"])
def test_bad_urls_are_refused(setup, url):
    targets = setup[1]
    with pytest.raises(NotificationError, match="URL"):
        targets.put(ACCOUNT, "hook", url)


def test_a_bad_pattern_is_refused_and_nothing_is_stored(setup):
    targets = setup[1]
    with pytest.raises(NotificationError, match="Event pattern is not valid"):
        targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a", '{"source": "aws.ecr"}')
    assert targets.list(ACCOUNT) == []


def test_deleting_a_target_drops_its_queue(setup):
    registry, targets, sender, clock, deliverer, _ = setup
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    targets.delete(ACCOUNT, "hook")
    assert deliverer.due_targets() == []
    with pytest.raises(NotificationError, match="does not exist"):
        targets.delete(ACCOUNT, "hook")


def test_a_run_waits_a_moment_for_a_target_another_runner_holds(setup, monkeypatch):
    registry, targets, sender, clock, deliverer, _ = setup
    monkeypatch.setattr("berth.notifications.delivery.LOCK_WAIT_SECONDS", 0.2)
    targets.put(ACCOUNT, "hook", "http://127.0.0.1:1/a")
    _push(registry, "app", "v1", b"one")
    _feed(registry.db)
    target = targets.get(ACCOUNT, "hook").id
    other = deliverer.db.try_lock(f"notifications:{target}")  # another runner's
    assert other.__enter__()
    assert deliverer.run(target) is None  # kept all along: nothing sent, and no hang
    monkeypatch.setattr("berth.notifications.delivery.LOCK_WAIT_SECONDS", 10.0)
    letting_go = threading.Timer(0.1, other.__exit__, (None, None, None))
    letting_go.start()
    assert deliverer.run(target) == 1  # the holder let go within the wait
    letting_go.join()
