"""Token buckets a node's worker processes share (berth/quotas/buckets.py): one rate for the
node, not one per worker; a worker killed holding the lock blocks nobody."""
import os
import signal
import threading
import fcntl

import pytest

from berth.quotas import buckets as buckets_module
from berth.quotas.buckets import Buckets


def _admitted(buckets: Buckets, key: str, tries: int, now: float = 1000.0) -> int:
    return sum(buckets.take(key, 10.0, 10.0, now) is None for _ in range(tries))


def test_a_bucket_holds_its_capacity_and_refills_at_its_rate():
    buckets = Buckets(64)
    assert _admitted(buckets, "k", 15) == 10
    assert buckets.take("k", 10.0, 10.0, 1000.0) == 0.1  # a tenth of a second to the next
    assert _admitted(buckets, "k", 15, now=1000.5) == 5
    assert _admitted(buckets, "other", 15) == 10  # another key, its own bucket
    assert _admitted(buckets, "k", 15, now=1000.0 + buckets_module.IDLE_SECONDS + 1) == 10


def test_keys_beyond_the_probed_slots_take_over_the_stalest():
    buckets = Buckets(4)  # fewer slots than keys: every key probes all of them
    for n in range(6):
        assert _admitted(buckets, f"k{n}", 12, now=1000.0 + n) == 10


def test_a_key_keeps_its_bucket_when_a_slot_probed_before_it_goes_idle():
    buckets = Buckets(2)
    first, second = [k for k in (f"k{n}" for n in range(100))
                     if buckets_module.key_hash(k) % 2 == 0][:2]  # the same first slot
    assert _admitted(buckets, first, 1, now=1000.0) == 1
    assert _admitted(buckets, second, 12, now=1050.0) == 10  # in the next slot: empty now
    # The first key's slot is idle by now; the second key's bucket is still its own, empty.
    idle = 1000.0 + buckets_module.IDLE_SECONDS + 1
    assert buckets.take(second, 0.001, 10.0, idle) is not None
    buckets.debit({buckets_module.key_hash(second): 5})  # it finds the same slot
    with memoryview(buckets._map) as raw:
        slots = [buckets_module._SLOT.unpack_from(raw, n * buckets_module._SLOT.size)
                 for n in range(2)]
    assert [s[1] for s in slots if s[0] == buckets_module.key_hash(second)] == [
        pytest.approx(-5, abs=0.1)]


def _in_child(work) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_forked_workers_share_one_rate():
    buckets = Buckets(64)
    children = [_in_child(lambda: _admitted(buckets, "principal", 8)) for _ in range(2)]
    assert children == [8, 2]  # ten for the node, not ten for each worker
    assert _admitted(buckets, "principal", 5) == 0


def test_the_supervisors_buckets_are_the_workers(monkeypatch):
    monkeypatch.setattr(buckets_module, "_node", None)
    buckets_module.prepare_node()
    assert _in_child(lambda: _admitted(buckets_module.node_buckets(), "p", 10)) == 10
    assert _admitted(buckets_module.node_buckets(), "p", 10) == 0


def test_a_worker_killed_holding_the_lock_blocks_nobody():
    buckets = Buckets(64)

    def die_locked():
        fcntl.lockf(buckets._file.fileno(), fcntl.LOCK_EX)
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    assert _in_child(die_locked) == -signal.SIGKILL
    done = []
    taker = threading.Thread(target=lambda: done.append(_admitted(buckets, "p", 1)))
    taker.start()
    taker.join(10)
    assert done == [1]
