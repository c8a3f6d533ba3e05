"""The signature ledger: a state-changing request's signature is accepted once, on any
process or node of the deployment, and forgotten once it can no longer pass the clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from berth.iam.replay import (
    CLOCK_MARGIN_SECONDS,
    PRUNE_EVERY_SECONDS,
    ReplayedSignature,
    SignatureLedger,
    changes_state,
)
from berth.iam.sigv4 import SigV4Error, VerifiedRequest
from berth.storage.metadata.database import Database
from berth.storage.metadata.schema import used_signatures

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)

READS = ["DescribeImages", "DescribeRepositories", "DescribeRegistry", "ListImages",
         "ListTagsForResource", "GetAuthorizationToken", "GetDownloadUrlForLayer",
         "GetRepositoryPolicy", "BatchGetImage", "BatchCheckLayerAvailability",
         "ListUsers", "GetStorageUsage", "DescribeKey"]
WRITES = ["BatchDeleteImage", "CompleteLayerUpload", "CreateRepository", "DeleteRepository",
          "InitiateLayerUpload", "PutImage", "SetRepositoryPolicy", "TagResource",
          "UploadLayerPart", "PutAccountSetting", "CreateAccessKey", "DeleteUser",
          "PutUserPolicy", "RunGarbageCollection", "RotateKey", "UpdateAccessKey"]


@pytest.mark.parametrize("operation", READS)
def test_reads_do_not_change_state(operation):
    assert not changes_state(f"AmazonEC2ContainerRegistry_V20150921.{operation}")
    assert not changes_state(f"BerthAdmin_20261122.{operation}")


@pytest.mark.parametrize("operation", WRITES)
def test_everything_else_changes_state(operation):
    assert changes_state(f"AmazonEC2ContainerRegistry_V20150921.{operation}")


@pytest.mark.parametrize("target", [None, "", "NoDot", "Prefix."])
def test_a_target_naming_no_read_counts_as_a_change(target):
    assert changes_state(target)


def _verified(signature: str, valid_until: datetime = NOW + timedelta(minutes=5)):
    return VerifiedRequest(
        access_key_id="AKID", identity=None, region="us-east-1", service="ecr",
        signed_at=valid_until - timedelta(minutes=5), presigned=False, signed_headers=("host",),
        payload_signed=True, security_token=None, signature=signature, valid_until=valid_until)


class Clock:
    def __init__(self):
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(db, clock):
    return SignatureLedger(db, clock)


def _rows(db: Database) -> dict[str, float]:
    with db.read() as tx:
        return dict(tx.all(select(used_signatures.c.signature, used_signatures.c.expires_at)))


def test_a_signature_is_accepted_once(ledger):
    ledger.claim(_verified("a" * 64))
    with pytest.raises(ReplayedSignature) as caught:
        ledger.claim(_verified("a" * 64))
    # Rendered as the APIs render authentication errors, with a code SDKs retry on (their
    # retry is signed anew; a replay cannot be).
    assert isinstance(caught.value, SigV4Error)
    assert (caught.value.code, caught.value.http_status) == ("ThrottlingException", 400)
    assert caught.value.message.startswith("Rate exceeded: this signed request was received")
    ledger.claim(_verified("b" * 64))


def test_another_process_refuses_it_too(db, ledger, clock):
    other_db = Database(db.url)
    try:
        ledger.claim(_verified("a" * 64))
        with pytest.raises(ReplayedSignature):
            SignatureLedger(other_db, clock).claim(_verified("a" * 64))
    finally:
        other_db.dispose()


def test_a_row_outlives_its_signature_by_the_clock_margin(db, ledger):
    ledger.claim(_verified("a" * 64))
    expected = (NOW + timedelta(minutes=5)).timestamp() + CLOCK_MARGIN_SECONDS
    assert _rows(db) == {"a" * 64: expected}


def test_expired_rows_are_pruned_at_most_once_a_period(db, ledger, clock):
    long_gone = NOW - timedelta(seconds=CLOCK_MARGIN_SECONDS + 100)
    ledger.claim(_verified("a" * 64, valid_until=long_gone))  # pruned before, stored after
    clock.now = NOW.timestamp() + PRUNE_EVERY_SECONDS / 2
    ledger.claim(_verified("b" * 64))
    assert set(_rows(db)) == {"a" * 64, "b" * 64}
    clock.now = NOW.timestamp() + PRUNE_EVERY_SECONDS + 1
    ledger.claim(_verified("c" * 64))
    assert set(_rows(db)) == {"b" * 64, "c" * 64}


def test_a_row_still_needed_is_not_pruned(db, ledger, clock):
    ledger.claim(_verified("a" * 64))
    clock.now = (NOW + timedelta(minutes=5)).timestamp() + CLOCK_MARGIN_SECONDS - 1
    ledger._next_prune = 0.0
    ledger.claim(_verified("b" * 64))
    assert set(_rows(db)) == {"a" * 64, "b" * 64}
    with pytest.raises(ReplayedSignature):
        ledger.claim(_verified("a" * 64))
