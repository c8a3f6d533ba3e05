import threading
import time

from sqlalchemy import select, update

from berth.storage.metadata import blobs, repositories, tags, uploads
from berth.storage.metadata.schema import repository_blobs as links


def test_ensure_repository_is_idempotent(db):
    with db.write() as conn:
        first = repositories.ensure(conn, 1, "team/app")
        assert repositories.ensure(conn, 1, "team/app") == first
    with db.read() as conn:
        assert [r.name for r in repositories.list_names(conn, 1, None, None)] == ["team/app"]


def test_tags_list_in_case_insensitive_order_with_pages(db):
    names = ["b", "A", "a", "a-1", "Z", "10", "9"]
    with db.write() as conn:
        repo = repositories.ensure(conn, 1, "r")
        for name in names:
            tags.put(conn, repo, name, "sha256:" + "0" * 64)
    with db.read() as conn:
        expected = sorted(names, key=lambda t: (t.lower(), t))
        assert tags.list_names(conn, repo, None, None) == expected
        assert expected == ["10", "9", "A", "a", "a-1", "b", "Z"]
        assert tags.list_names(conn, repo, "A", 2) == ["a", "a-1"]
        assert tags.list_names(conn, repo, "b", 5) == ["Z"]


def test_tag_moves_on_put(db):
    with db.write() as conn:
        repo = repositories.ensure(conn, 1, "r")
        tags.put(conn, repo, "latest", "sha256:" + "1" * 64)
        tags.put(conn, repo, "latest", "sha256:" + "2" * 64)
        assert tags.get_digest(conn, repo, "latest") == "sha256:" + "2" * 64


def test_blob_link_and_unlink(db):
    digest = "sha256:" + "a" * 64
    with db.write() as conn:
        repo = repositories.ensure(conn, 1, "r")
        blobs.pin(conn, "", digest, 10)
        blobs.pin(conn, "", digest, 10)
        assert blobs.hold(conn, "", digest, 0.0)
        blobs.link(conn, repo, digest, 10)
        blobs.link(conn, repo, digest, 10)
        assert blobs.size_in_repository(conn, repo, digest) == 10
        assert blobs.unlink(conn, repo, digest)
        assert not blobs.unlink(conn, repo, digest)
        assert blobs.size_in_repository(conn, repo, digest) is None


def test_upload_advance_is_compare_and_set(db):
    with db.write() as conn:
        uploads.create(conn, "u1", 1, "r", {"part": 0})
        assert uploads.advance(conn, "u1", 0, 100, {"part": 1})
        assert not uploads.advance(conn, "u1", 0, 50, {"part": 9})
        assert uploads.get(conn, "u1") == ((1, "r"), 100, {"part": 1})


def test_concurrent_writers_wait_instead_of_failing(db):
    errors = []

    def work(i):
        try:
            for j in range(20):
                with db.write() as conn:
                    repo = repositories.ensure(conn, 1, f"r{i}")
                    tags.put(conn, repo, f"t{j}", "sha256:" + "3" * 64)
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        assert len(repositories.list_names(conn, 1, None, None)) == 8


def test_linking_again_restarts_only_a_pending_wait(db):
    """A link waits for a manifest (unreferenced_since set); linking again restarts that
    wait, but a link a manifest holds (NULL) stays held."""
    digest, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    with db.write() as conn:
        repo = repositories.ensure(conn, 1, "r")
        blobs.link(conn, repo, digest, 10)
        blobs.link(conn, repo, other, 10)
        assert blobs.hold_links(conn, repo, [other, digest]) == {other: 10, digest: 10}
        conn.execute(update(links).where(links.c.digest == other).values(
            unreferenced_since=None))  # as a sweep leaves a listed link
    with db.write() as conn:
        conn.execute(update(links).where(links.c.digest == digest).values(
            unreferenced_since=5))
        blobs.link(conn, repo, digest, 10)
        blobs.link(conn, repo, other, 10)
    with db.read() as conn:
        rows = dict(conn.all(select(links.c.digest, links.c.unreferenced_since)))
    assert rows[digest] > 5 and rows[other] is None


def test_hold_refuses_an_object_past_its_grace(db):
    digest = "sha256:" + "c" * 64
    with db.write() as conn:
        assert not blobs.hold(conn, "aes256", digest, 0.0)  # unknown
        blobs.pin(conn, "aes256", digest, 3)
        assert not blobs.hold(conn, "aes256", digest, time.time() + 60)  # pinned too long ago
        assert blobs.hold(conn, "aes256", digest, time.time() - 60)
        assert blobs.hold(conn, "aes256", digest, time.time() + 60)  # held: NULL
