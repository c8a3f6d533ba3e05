"""The storage walk removes uploads no upload row knows (what a crash leaves between starting
an upload in the storage and recording it, a monolithic upload or a small blob's temporary
cut off), once untouched for the grace period; uploads with a row are the upload expiry's."""
import os
import time

from berth.registry.references import Digest

from .conftest import GRACE, push_image

BLOB = b"blob" * 1000


def later(seconds: float = GRACE + 1) -> float:
    return time.time() + seconds


def upload_entries(registry) -> set[str]:
    return set(os.listdir(registry.driver.root / "uploads"))


def untracked(registry, upload_id: str, data: bytes = b"partial") -> str:
    """An upload the storage holds and no row knows (its session's row never written)."""
    state = registry.driver.upload_start(upload_id, "")
    writer = registry.driver.upload_writer(upload_id, state, 0)
    writer.write([data])
    writer.finish()
    return upload_id


def put_temporary(registry, name: str = "put-0123456789abcdef") -> str:
    """A small blob's temporary file, as a crash during put leaves it."""
    (registry.driver.root / "uploads" / name).write_bytes(b"half a blob")
    return name


def test_the_full_sweep_removes_old_uploads_no_row_knows(registry, collector):
    tracked = registry.uploads.start("app")  # a session with its row: the expiry's
    push_image(registry, "app", "v1", BLOB)
    orphans = {untracked(registry, "11111111-2222-3333-4444-555555555555"),
               put_temporary(registry)}
    assert upload_entries(registry) == orphans | {tracked}

    # Within the grace period: kept (it may be a monolithic upload in progress).
    report = collector.sweep()
    assert report.orphan_uploads == 0
    assert upload_entries(registry) == orphans | {tracked}
    # The periodic sweep does not walk the storage.
    assert collector.sweep(orphans=False, now=later()).orphan_uploads == 0
    assert upload_entries(registry) == orphans | {tracked}

    dry = collector.sweep(dry_run=True, now=later())
    assert dry.orphan_uploads == len(orphans)
    assert upload_entries(registry) == orphans | {tracked}, "a dry run removed uploads"

    report = collector.sweep(now=later())
    assert report.orphan_uploads == len(orphans)
    assert upload_entries(registry) == {tracked}
    assert collector.sweep(now=later()).orphan_uploads == 0
    # The tracked session is still there, and the pushed image's layer is whole.
    assert registry.uploads.status("app", tracked) == 0
    blob = registry.blobs.find("app", Digest.of(BLOB))
    assert b"".join(registry.blobs.read(blob, 0, len(BLOB))) == BLOB


def test_an_upload_written_within_the_grace_period_is_kept(registry, collector):
    upload_id = untracked(registry, "66666666-7777-8888-9999-000000000000")
    path = registry.driver.root / "uploads" / upload_id
    old = time.time() - GRACE - 10
    os.utime(path, (old, old))
    assert collector.sweep().orphan_uploads == 1
    assert upload_id not in upload_entries(registry)

    upload_id = untracked(registry, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    os.utime(path.with_name(upload_id), (old, old))
    writer = registry.driver.upload_writer(upload_id, {}, len(b"partial"))
    writer.write([b" and more"])  # still arriving: dated now
    writer.finish()
    assert collector.sweep().orphan_uploads == 0
    assert upload_id in upload_entries(registry)
