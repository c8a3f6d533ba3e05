"""EncryptedDriver: uploads (no plaintext at rest, also mid-upload and after an interruption;
resuming on another node from the stored state), keys that are disabled or rotated, and the
pass-through of plain and untracked uploads."""
import base64
import json
import os
import time

import pytest

from berth.storage.blobs import FilesystemDriver
from berth.storage.blobs.encrypted import EncryptedDriver
from berth.storage.blobs.keyring import KeyUnavailable
from berth.storage.blobs.segments import SEGMENT_SIZE

from .fake_keyring import FakeKeyring

S = SEGMENT_SIZE
KEY = "aes256/sha256/ab/abcdef"
PATTERN = os.urandom(1024 * 1024)
# Slices of the pattern that no stored byte may contain.
PROBES = [PATTERN[pos:pos + 32] for pos in range(0, len(PATTERN), 2048)]


@pytest.fixture
def keyring():
    return FakeKeyring("aes256")


@pytest.fixture
def root(tmp_path):
    return tmp_path / "blobs"


def _node(root, keyring):
    """One node's driver: its own wrapper and inner driver over the shared storage."""
    return EncryptedDriver(FilesystemDriver(root), keyring)


@pytest.fixture
def driver(root, keyring):
    drv = _node(root, keyring)
    yield drv
    drv.close()


def _write(driver, upload_id, state, size, parts):
    """One request: a writer at the acknowledged size; returns the new (size, state) as the
    metadata database stores it (JSON)."""
    writer = driver.upload_writer(upload_id, state, size)
    writer.write(parts)
    size, state = writer.finish()
    return size, json.loads(json.dumps(state))


def _assert_no_plaintext(root, states=()):
    """Searches every stored file and the upload states (their base64 decoded); returns how
    many files there were, so that a search of nothing cannot pass."""
    files = [path.read_bytes() for path in root.rglob("*") if path.is_file()]
    in_states = [base64.b64decode(state["encryption"][field])
                 for state in states for field in ("tail", "wrapped")]
    for raw in files + in_states:
        assert not any(probe in raw for probe in PROBES)
    return len(files)


def test_no_plaintext_reaches_storage_or_state(driver, root):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [PATTERN[:100_000]])
    size, state = _write(driver, "u1", state, size, [PATTERN[100_000:700_000]])
    assert _assert_no_plaintext(root, [state]) == 1  # mid-upload: the upload file
    size, state = _write(driver, "u1", state, size, [PATTERN[700_000:]])
    driver.upload_commit("u1", state, size, KEY)
    driver.put("aes256/sha256/ab/put", PATTERN)
    assert _assert_no_plaintext(root) == 2  # the committed blobs
    assert b"".join(driver.read(KEY)) == PATTERN


def test_no_plaintext_after_an_interrupted_upload(driver, root):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [PATTERN[:S // 2]])
    writer = driver.upload_writer("u1", state, size)
    writer.write([PATTERN[S // 2:]])
    # The request dies here: no finish, no abort, its writer is simply gone.
    assert _assert_no_plaintext(root, [state]) == 1
    writer.abort()
    assert _assert_no_plaintext(root, [state]) == 1


def test_interrupted_bytes_are_rewritten_on_resume(driver):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"a" * (S + 10)])
    writer = driver.upload_writer("u1", state, size)
    writer.write([b"garbage" * S])  # several full segments reach storage
    writer.abort()
    size, state = _write(driver, "u1", state, size, [b"b" * (2 * S)])
    assert b"".join(driver.upload_read("u1", state, size)) == b"a" * (S + 10) + b"b" * (2 * S)
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read(KEY)) == b"a" * (S + 10) + b"b" * (2 * S)


def test_another_node_resumes_from_the_stored_state(root, keyring):
    first, second = _node(root, keyring), _node(root, keyring)
    data = os.urandom(3 * S + 5)
    state = first.upload_start("u1", "aes256")
    size, state = _write(first, "u1", state, 0, [data[:S + 3]])
    size, state = _write(second, "u1", state, size, [data[S + 3:2 * S]])
    size, state = _write(first, "u1", state, size, [data[2 * S:]])
    assert b"".join(second.upload_read("u1", state, size)) == data
    second.upload_commit("u1", state, size, KEY)
    assert b"".join(first.read(KEY)) == data
    first.close()
    second.close()


@pytest.mark.parametrize("size", [0, 1, S - 1, S, 2 * S, 2 * S + 1])
def test_upload_sizes_at_segment_boundaries(driver, size):
    data = os.urandom(size)
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [data[:7], data[7:]])
    assert b"".join(driver.upload_read("u1", state, size)) == data
    driver.upload_commit("u1", state, size, KEY)
    assert driver.stat(KEY) == len(data)
    assert b"".join(driver.read(KEY)) == data


def test_many_small_buffers_in_one_write(driver):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"xy"] * (S + 3))
    assert b"".join(driver.upload_read("u1", state, size)) == b"xy" * (S + 3)


def test_writer_only_at_the_acknowledged_size(driver):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"abc"])
    with pytest.raises(ValueError):
        driver.upload_writer("u1", state, size + 1)


def test_disabled_key_refuses_start_reads_and_writes(driver, keyring):
    driver.put(KEY, b"secret layer")
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"more"])
    keyring.disable("aes256")
    calls = [lambda: driver.upload_start("u2", "aes256"),
             lambda: driver.read(KEY),  # at the call, before any byte is streamed
             lambda: driver.read(KEY, 3, 2),
             lambda: driver.put("aes256/sha256/ab/new", b"x"),
             lambda: driver.upload_writer("u1", state, size),
             lambda: driver.upload_read("u1", state, size),
             lambda: driver.upload_commit("u1", state, size, "aes256/sha256/ab/other")]
    for call in calls:
        with pytest.raises(KeyUnavailable) as err:
            call()
        assert err.value.key_ref == "aes256"
    assert driver.upload_ids_older_than(time.time() + 1) == ["u1"]  # u2 never started
    keyring.enable("aes256")
    assert b"".join(driver.read(KEY)) == b"secret layer"
    driver.upload_commit("u1", state, size, "aes256/sha256/ab/other")
    assert b"".join(driver.read("aes256/sha256/ab/other")) == b"more"


def test_unknown_key_ref_refuses_an_upload(driver):
    with pytest.raises(KeyUnavailable):
        driver.upload_start("u1", "kms-0b5e8f3c-6a4d-4e1f-9c2b-7d8a9e0f1a2b")
    with pytest.raises(ValueError):
        driver.upload_start("u1", "not-a-key-ref")


def test_rotation_keeps_old_blobs_and_uploads_readable(driver, keyring):
    driver.put("aes256/sha256/ab/old", b"before rotation")
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"x" * (S + 1)])
    keyring.rotate("aes256")
    driver.put("aes256/sha256/ab/new", b"after rotation")
    size, state = _write(driver, "u1", state, size, [b"y"])
    driver.upload_commit("u1", state, size, KEY)
    assert b"".join(driver.read("aes256/sha256/ab/old")) == b"before rotation"
    assert b"".join(driver.read("aes256/sha256/ab/new")) == b"after rotation"
    assert b"".join(driver.read(KEY)) == b"x" * (S + 1) + b"y"


def test_commit_key_must_carry_the_uploads_key_ref(driver):
    encrypted = driver.upload_start("u1", "aes256")
    plain = driver.upload_start("u2")
    other = "kms-0b5e8f3c-6a4d-4e1f-9c2b-7d8a9e0f1a2b/sha256/ab/abcdef"
    for upload_id, state, key in [("u1", encrypted, "sha256/ab/abcdef"), ("u1", encrypted, other),
                                  ("u2", plain, KEY)]:
        with pytest.raises(ValueError):
            driver.upload_commit(upload_id, state, 0, key)
    assert driver.stat(KEY) is None and driver.stat("sha256/ab/abcdef") is None


def test_commit_only_of_the_acknowledged_size(driver):
    state = driver.upload_start("u1", "aes256")
    size, state = _write(driver, "u1", state, 0, [b"abc"])
    with pytest.raises(ValueError):
        driver.upload_commit("u1", state, size + 1, KEY)


def test_plain_uploads_and_untracked_ones_pass_through(driver, root):
    inner = FilesystemDriver(root)
    inner.upload_start("untracked")  # e.g. a node died before recording it
    state = inner.upload_start("legacy")  # started before encryption was configured
    size, state = _write(driver, "legacy", state, 0, [b"plain bytes"])
    driver.upload_commit("legacy", state, size, "sha256/ab/legacy")
    assert (root / "data" / "sha256/ab/legacy").read_bytes() == b"plain bytes"
    assert driver.upload_ids_older_than(time.time() + 1) == ["untracked"]
    driver.upload_abort("untracked", {})
    assert driver.upload_ids_older_than(time.time() + 1) == []
    inner.close()


def test_abort_removes_an_encrypted_upload(driver, root):
    state = driver.upload_start("u1", "aes256")
    _write(driver, "u1", state, 0, [b"z" * (2 * S)])
    driver.upload_abort("u1", state)
    assert [p for p in root.rglob("*") if p.is_file()] == []
