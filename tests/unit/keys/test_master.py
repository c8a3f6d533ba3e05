import base64
import multiprocessing
import os
import stat
import threading

import pytest

from berth.keys.master import MasterKey, MasterKeyError


def _key_text(raw: bytes | None = None) -> str:
    return base64.b64encode(raw if raw is not None else os.urandom(32)).decode()


def _same_key(a: MasterKey, b: MasterKey) -> bool:
    try:
        return b.open(a.seal(b"probe", "same-key"), "same-key") == b"probe"
    except MasterKeyError:
        return False


# -- sealing ---------------------------------------------------------------------------------
def test_seal_open_round_trip(master):
    for plaintext in (b"", b"s3cr3t", os.urandom(4096)):
        sealed = master.seal(plaintext, "access-key:AKIAEXAMPLE")
        assert plaintext not in sealed or plaintext == b""
        assert master.open(sealed, "access-key:AKIAEXAMPLE") == plaintext


def test_sealing_twice_gives_different_ciphertexts(master):
    assert master.seal(b"same", "ctx") != master.seal(b"same", "ctx")


def test_wrong_context_does_not_open(master):
    sealed = master.seal(b"secret", "access-key:AKIA1")
    with pytest.raises(MasterKeyError):
        master.open(sealed, "access-key:AKIA2")


def test_other_key_does_not_open(master):
    sealed = master.seal(b"secret", "ctx")
    with pytest.raises(MasterKeyError):
        MasterKey(os.urandom(32)).open(sealed, "ctx")


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])  # version, nonce, body, tag
def test_tampered_ciphertext_does_not_open(master, position):
    sealed = bytearray(master.seal(b"secret value", "ctx"))
    sealed[position] ^= 0x01
    with pytest.raises(MasterKeyError):
        master.open(bytes(sealed), "ctx")


def test_extended_ciphertext_does_not_open(master):
    with pytest.raises(MasterKeyError):
        master.open(master.seal(b"secret", "ctx") + b"\x00", "ctx")


def test_sealed_value_read_back_as_memoryview_opens(master):
    # Database drivers hand LargeBinary back as memoryview or bytes.
    assert master.open(memoryview(master.seal(b"x", "c")), "c") == b"x"


@pytest.mark.parametrize("length", [1, 5, 8])
def test_truncated_ciphertext_does_not_open(master, length):
    sealed = master.seal(b"secret", "ctx")[:length]
    with pytest.raises(MasterKeyError):
        master.open(sealed, "ctx")


# -- construction ----------------------------------------------------------------------------
@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_must_be_32_bytes(length):
    with pytest.raises(MasterKeyError):
        MasterKey(os.urandom(length))
    with pytest.raises(MasterKeyError):
        MasterKey.from_base64(_key_text(os.urandom(length)))


@pytest.mark.parametrize("text", ["not base64!", "AAAA=AAA", "é" * 44, "QUJD\x00"])
def test_malformed_base64_is_refused(text):
    with pytest.raises(MasterKeyError):
        MasterKey.from_base64(text)


def test_base64_with_surrounding_whitespace_is_accepted():
    raw = os.urandom(32)
    assert _same_key(MasterKey(raw), MasterKey.from_base64(f"  {_key_text(raw)}\n"))


# -- loading ---------------------------------------------------------------------------------
def test_load_creates_an_owner_only_key_file_once(tmp_path):
    path = tmp_path / "conf" / "master.key"
    first = MasterKey.load("", path, create=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600
    text = path.read_text()
    assert len(base64.b64decode(text.strip(), validate=True)) == 32
    before = path.stat()
    second = MasterKey.load("", path, create=True)
    assert _same_key(first, second)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_text() == text
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key"]  # no temp left


def test_load_reads_an_existing_file(tmp_path):
    raw = os.urandom(32)
    path = tmp_path / "master.key"
    path.write_text(_key_text(raw) + "\n")
    assert _same_key(MasterKey(raw), MasterKey.load("", path, create=True))


def test_value_overrides_the_file(tmp_path):
    path = tmp_path / "master.key"
    from_file = MasterKey.load("", path, create=True)
    raw = os.urandom(32)
    loaded = MasterKey.load(_key_text(raw), path, create=True)
    assert _same_key(MasterKey(raw), loaded)
    assert not _same_key(from_file, loaded)


def test_value_given_creates_no_file(tmp_path):
    path = tmp_path / "master.key"
    MasterKey.load(_key_text(), path, create=True)
    assert not path.exists()


def test_missing_file_without_create_is_an_error(tmp_path):
    path = tmp_path / "master.key"
    with pytest.raises(MasterKeyError, match="no master key"):
        MasterKey.load("", path, create=False)
    assert not path.exists()


@pytest.mark.parametrize("content", ["", "garbage!!\n", _key_text(os.urandom(16)) + "\n"])
def test_malformed_file_is_an_error_and_is_not_replaced(tmp_path, content):
    path = tmp_path / "master.key"
    path.write_text(content)
    with pytest.raises(MasterKeyError):
        MasterKey.load("", path, create=True)
    assert path.read_text() == content


@pytest.mark.parametrize("value", ["garbage!!", _key_text(os.urandom(31))])
def test_malformed_value_is_an_error(tmp_path, value):
    with pytest.raises(MasterKeyError):
        MasterKey.load(value, tmp_path / "master.key", create=True)


def test_key_file_is_complete_before_it_appears(tmp_path, monkeypatch):
    """The key is written (and synced) under another name: while its bytes go to disk, the
    key file's path does not exist, so no reader can see it partly written."""
    path = tmp_path / "master.key"
    seen = []
    real_fsync = os.fsync

    def fsync(fd):
        seen.append(path.exists())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    MasterKey.load("", path, create=True)
    assert seen == [False]
    assert path.exists()


def _load_in_child(path, barrier, queue):
    barrier.wait(timeout=60)
    key = MasterKey.load("", path, create=True)
    queue.put(key.seal(b"from child", "race"))


def test_concurrent_processes_all_get_the_same_key(tmp_path):
    path = tmp_path / "master.key"
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_load_in_child, args=(path, barrier, queue)) for _ in range(6)]
    for proc in procs:
        proc.start()
    sealed = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    key = MasterKey.load("", path, create=False)
    assert [key.open(s, "race") for s in sealed] == [b"from child"] * 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key"]


def test_concurrent_threads_all_get_the_same_key(tmp_path, monkeypatch):
    """Two threads reach the write at the same moment (held together in fsync, after both
    found no key file), then both finish."""
    path = tmp_path / "master.key"
    barrier = threading.Barrier(2)
    real_fsync = os.fsync

    def fsync(fd):
        try:
            barrier.wait(timeout=5)  # a fix that serialises the writers passes the timeout
        except threading.BrokenBarrierError:
            pass
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    keys, errors = [], []

    def load():
        try:
            keys.append(MasterKey.load("", path, create=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    from_file = MasterKey.load("", path, create=False)
    assert all(_same_key(key, from_file) for key in keys)
