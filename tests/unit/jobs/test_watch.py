"""Work on demand (berth/jobs/watch.py): when a process looks for work, which kinds it starts,
and how gaps, pokes and failures move its next look. A fake clock: no waiting."""
import pytest

from berth.jobs.watch import Watch, Watcher


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _watcher(kinds=("a", "b"), **kw):
    clock = Clock()
    watch = Watch(lambda: [], {k: (lambda job: None) for k in kinds}, **kw)
    return Watcher(watch, clock), clock


def test_the_first_look_is_at_once_and_the_next_after_the_look_interval():
    watcher, clock = _watcher(look=2.0)
    assert watcher.looking() == ["a", "b"]
    assert watcher.choose(["a", "b"], set()) == []
    assert watcher.looking() == []  # looked just now
    assert watcher.wait() == pytest.approx(2.0)
    clock.now += 2.0
    assert watcher.looking() == ["a", "b"]


def test_a_poke_brings_the_next_look_forward_to_now():
    watcher, clock = _watcher(look=60.0)
    watcher.choose(watcher.looking(), set())
    watcher.poke()
    assert watcher.wait() == 0
    assert watcher.looking() == ["a", "b"]


def test_only_kinds_with_work_start_and_a_running_kind_is_not_started_again():
    watcher, clock = _watcher(gap=0.0)
    assert watcher.choose(watcher.looking(), {"b"}) == ["b"]
    watcher.started("b")
    watcher.poke()
    assert watcher.looking() == ["a"]  # b runs here already
    assert watcher.choose(["a"], {"a", "b"}) == ["a"]


def test_a_kind_starts_at_most_once_per_gap_and_held_work_is_looked_at_when_it_may_start():
    watcher, clock = _watcher(kinds=("a",), look=60.0, gap=0.05)
    assert watcher.choose(watcher.looking(), {"a"}) == ["a"]
    watcher.started("a")
    watcher.finished("a", None)
    # More work came at once: it waits for the gap, not for the next look (60 s).
    assert watcher.looking() == []
    assert watcher.wait() == pytest.approx(0.05)
    clock.now += 0.05
    assert watcher.looking() == ["a"]


def test_held_work_of_one_kind_brings_the_next_look_forward_while_another_starts():
    watcher, clock = _watcher(look=60.0, gap=0.5)
    watcher.choose(watcher.looking(), {"a"})
    watcher.started("a")
    watcher.finished("a", None)
    clock.now += 0.1
    free = watcher.looking()
    assert free == ["b"]
    assert watcher.choose(free, {"a", "b"}) == ["b"]
    assert watcher.wait() == pytest.approx(0.4)  # a's gap ends then, not in 60 s


def test_a_failing_kind_backs_off_doubling_up_to_the_cap(caplog):
    watcher, clock = _watcher(kinds=("a",), look=1.0, gap=0.0, backoff_base=1.0,
                              backoff_cap=4.0)
    delays = []
    for _ in range(4):
        clock.now = max(clock.now, watcher._next.get("a", 0.0))
        watcher.choose(watcher.looking(), {"a"})
        watcher.started("a")
        watcher.finished("a", OSError("down"))
        delays.append(watcher._next["a"] - clock.now)
    assert delays == [1.0, 2.0, 4.0, 4.0]
    assert "a failed (3 in a row)" in caplog.text
    clock.now += 4.0
    watcher.started("a")
    watcher.finished("a", None)  # a success starts the backoff over
    watcher.finished("a", OSError("down"))
    assert watcher._next["a"] - clock.now == 1.0


def test_a_watcher_with_every_kind_running_waits_for_one_to_finish():
    watcher, clock = _watcher(kinds=("a",))
    watcher.choose(watcher.looking(), {"a"})
    watcher.started("a")
    watcher.poke()
    assert watcher.looking() == []
    assert watcher.wait() == float("inf")
    watcher.finished("a", None)
    assert watcher.wait() == 0


def test_settings_that_would_spin_are_refused():
    with pytest.raises(ValueError):
        Watch(lambda: [], {}, look=0)
    with pytest.raises(ValueError):
        Watch(lambda: [], {}, backoff_base=0)


def _run_once(watcher, kind="a", handled=1):
    assert watcher.choose(watcher.looking(), {kind}) == [kind]
    watcher.started(kind)
    watcher.finished(kind, None, handled)
    return watcher._next[kind] - watcher._started[kind]


def test_after_runs_that_handled_large_batches_the_gap_doubles_up_to_the_look():
    watcher, clock = _watcher(kinds=("a",), look=0.5, gap=0.1, batch=8)
    gaps = []
    for _ in range(4):
        gaps.append(round(_run_once(watcher, handled=9), 3))
        clock.now = watcher._next["a"]
    assert gaps == [0.2, 0.4, 0.5, 0.5]


def test_a_run_that_handled_a_small_batch_brings_the_shortest_gap_back():
    watcher, clock = _watcher(kinds=("a",), look=1.0, gap=0.1, batch=8)
    _run_once(watcher, handled=500)
    clock.now = watcher._next["a"]
    assert _run_once(watcher, handled=8) == pytest.approx(0.1)
    clock.now = watcher._next["a"]
    assert _run_once(watcher, handled=None) == pytest.approx(0.1)  # a handler that counts none
