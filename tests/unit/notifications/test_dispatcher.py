"""The notifications dispatcher: each due target goes to a sending thread once at a time; a
target's runs start MIN_RUN_SECONDS apart at least (what comes due meanwhile goes out
together), and a target whose run sent nothing (its deliveries wait for a retry: a dead
target) is left alone a while, so new deliveries do not have it walk its whole queue each
time."""
import threading
import time

from berth.notifications.tasks import MIN_RUN_SECONDS, QUIET_SECONDS, Dispatcher


class FakeDeliverer:
    def __init__(self, sends: dict[str, int]):
        self.sends = sends
        self.due = list(sends)
        self.runs: list[str] = []
        self.asked = 0
        self.ran = threading.Condition()

    def due_targets(self):
        self.asked += 1
        return list(self.due)

    def run(self, target_id):
        with self.ran:
            self.runs.append(target_id)
            self.ran.notify_all()
        return self.sends[target_id]


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def _settle(dispatcher, deliverer, runs: int):
    deadline = time.monotonic() + 10
    with deliverer.ran:
        while len(deliverer.runs) < runs:
            assert deliverer.ran.wait(max(0.0, deadline - time.monotonic()))
    while not dispatcher.idle():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_target_that_sent_nothing_is_left_alone_for_a_while_and_a_live_one_is_not():
    deliverer, clock = FakeDeliverer({"live": 3, "dead": 0}), Clock()
    dispatcher = Dispatcher(deliverer, clock=clock)
    assert dispatcher.dispatch() == 2
    _settle(dispatcher, deliverer, 2)
    assert dispatcher.new(["dead"]) is False  # left alone
    assert dispatcher.new(["live"]) is False  # it just ran: what comes due waits a moment
    clock.now += MIN_RUN_SECONDS
    assert dispatcher.new(["live"]) is True
    assert dispatcher.dispatch() == 1
    _settle(dispatcher, deliverer, 3)
    assert deliverer.runs.count("dead") == 1
    clock.now += QUIET_SECONDS
    assert dispatcher.new(["dead"]) is True
    assert dispatcher.dispatch() == 1  # what that look found
    _settle(dispatcher, deliverer, 4)
    assert deliverer.runs.count("dead") == 2
    assert dispatcher.dispatch() == 1  # no look before it: the database says "live" is due
    _settle(dispatcher, deliverer, 5)


def test_a_target_that_sends_again_is_not_left_alone_any_more():
    deliverer, clock = FakeDeliverer({"t": 0}), Clock()
    dispatcher = Dispatcher(deliverer, clock=clock)
    dispatcher.dispatch()
    _settle(dispatcher, deliverer, 1)
    clock.now += QUIET_SECONDS
    deliverer.sends["t"] = 1  # its retry came due and went out
    dispatcher.dispatch()
    _settle(dispatcher, deliverer, 2)
    clock.now += MIN_RUN_SECONDS
    assert dispatcher.new(["t"]) is True


def test_a_target_another_runner_kept_is_left_alone_too():
    deliverer, clock = FakeDeliverer({"t": None}), Clock()  # run: None, the lock was taken
    dispatcher = Dispatcher(deliverer, clock=clock)
    dispatcher.dispatch()
    _settle(dispatcher, deliverer, 1)
    assert dispatcher.new(["t"]) is False
    clock.now += QUIET_SECONDS
    assert dispatcher.new(["t"]) is True


def test_what_comes_due_during_a_run_goes_out_with_the_next_run_a_moment_later():
    release = threading.Event()
    deliverer, clock = FakeDeliverer({"t": 1}), Clock()
    sends = deliverer.run

    def slow_run(target_id):
        release.wait(10)
        return sends(target_id)
    deliverer.run = slow_run
    dispatcher = Dispatcher(deliverer, clock=clock)
    dispatcher.dispatch()
    assert dispatcher.new(["t"]) is False  # queued, running: nothing to dispatch
    release.set()
    _settle(dispatcher, deliverer, 1)
    # Runs of a target start MIN_RUN_SECONDS apart at least: deliveries gather meanwhile.
    assert dispatcher.new(["t"]) is False
    clock.now += MIN_RUN_SECONDS
    assert dispatcher.new(["t"]) is True and dispatcher.dispatch() == 1
    _settle(dispatcher, deliverer, 2)
    assert deliverer.runs == ["t", "t"]


def test_a_dispatch_after_a_look_does_not_ask_the_database_again():
    deliverer = FakeDeliverer({"a": 1, "b": 1})
    dispatcher = Dispatcher(deliverer, clock=Clock())
    assert dispatcher.new(deliverer.due_targets()) is True
    assert dispatcher.dispatch() == 2
    assert deliverer.asked == 1
    _settle(dispatcher, deliverer, 2)
    assert dispatcher.new([]) is False
    dispatcher.clock.now += MIN_RUN_SECONDS
    assert dispatcher.dispatch() == 2  # a dispatch of its own asks
    assert deliverer.asked == 2
    _settle(dispatcher, deliverer, 4)
