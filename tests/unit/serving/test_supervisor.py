"""berth.serving.supervisor: the port taken before anything else, and the supervisor's care of
its workers (restarts with backoff, SIGHUP passed on only for a certificate that loads), with
fake worker processes and a fake clock."""
from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn.supervisors.multiprocess as uvicorn_multiprocess

from berth.serving import supervisor
from berth.serving.supervisor import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    STABLE_SECONDS,
    StartupError,
    _Supervisor,
    listen,
)
from berth.serving.tls import TlsFiles
from tests.support.certificates import issue_pair, new_ca
from tests.support.log_records import records_of

# --- listen -----------------------------------------------------------------------------


def test_listen_binds_an_inheritable_socket():
    sock = listen("127.0.0.1", 0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert sock.get_inheritable()
        assert sock.family == socket.AF_INET
    finally:
        sock.close()


def test_listen_on_an_ipv6_address():
    try:
        sock = listen("::1", 0)
    except StartupError as exc:  # a machine without IPv6 loopback
        pytest.skip(str(exc))
    try:
        assert sock.family == socket.AF_INET6
    finally:
        sock.close()


def test_a_port_in_use_is_a_startup_error_naming_it():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(StartupError) as caught:
            listen("127.0.0.1", port)
    finally:
        taken.close()
    message = str(caught.value)
    assert message.startswith("host/port: ")
    assert f"127.0.0.1:{port}" in message
    assert "in use" in message


def test_an_address_not_of_this_machine_is_a_startup_error():
    with pytest.raises(StartupError, match=r"192\.0\.2\.1:0: the address is not one of this "
                                           r"machine's"):
        listen("192.0.2.1", 0)  # TEST-NET-1: never a local address


def test_the_port_is_free_again_after_a_failed_listen(monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    made, real = [], socket.socket

    def recorded(*args):
        made.append(real(*args))
        return made[-1]
    # The socket listen() made, watched itself: counting the process's descriptors also
    # counted whatever other threads of the test process opened meanwhile.
    monkeypatch.setattr(supervisor.socket, "socket", recorded)
    with pytest.raises(StartupError) as caught:  # its traceback holds listen()'s frame
        listen("127.0.0.1", port)
    monkeypatch.undo()
    assert len(made) == 1 and made[0].fileno() == -1  # the failed socket was closed
    del caught
    taken.close()
    listen("127.0.0.1", port).close()


# --- the supervisor, with fake workers ---------------------------------------------------

HEALTHCHECK = 7


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeProcess:
    """uvicorn's Process as the supervisor uses it."""

    pids = itertools.count(4000)

    def __init__(self, config, sockets):
        self.config, self.sockets = config, sockets
        self.process = SimpleNamespace(exitcode=None)
        self.pid = next(self.pids)
        self.started = False
        self.hup_at_start = None
        self.answers = True  # to health checks
        self.ready = True
        self.health_checks: list[float] = []
        self.killed = self.joined = False

    def start(self) -> None:
        self.started = True
        self.hup_at_start = signal.getsignal(signal.SIGHUP)

    def wait_until_ready(self, timeout, should_exit=None) -> bool:
        return self.ready

    def is_alive(self, timeout: float = 5) -> bool:
        self.health_checks.append(timeout)
        return self.process.exitcode is None and self.answers

    def kill(self) -> None:
        self.killed = True
        self.process.exitcode = -signal.SIGKILL

    def join(self) -> None:
        self.joined = True

    def die(self, status: int = 1) -> None:
        self.process.exitcode = status


@pytest.fixture
def signals_restored():
    """uvicorn's Multiprocess installs handlers for a dozen signals as it is made."""
    saved = {sig: signal.getsignal(sig) for sig in uvicorn_multiprocess.SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(supervisor.time, "monotonic", clock)
    return clock


@pytest.fixture
def loads(monkeypatch) -> list:
    """The application loads of the supervisor (each the config it was for), none real."""
    loaded = []
    monkeypatch.setattr(supervisor, "preload", loaded.append)
    return loaded


@pytest.fixture
def made(monkeypatch, loads) -> list[FakeProcess]:
    """Every worker process the supervisor made, in order (with the application loaded, in
    pretence, before the first)."""
    processes: list[FakeProcess] = []

    def make(config, sockets):
        assert loads == [config], "workers are forked from a loaded application"
        process = FakeProcess(config, sockets)
        processes.append(process)
        return process

    monkeypatch.setattr(supervisor, "Process", make)  # the supervisor's restarts
    monkeypatch.setattr(uvicorn_multiprocess, "Process", make)  # uvicorn's init_processes
    return processes


@pytest.fixture
def berth_log():
    with records_of("berth") as records:
        yield records


def _make_supervisor(monkeypatch, made, tls=None, workers=2):
    """A supervisor whose init_processes made ``workers`` fake workers."""
    config = SimpleNamespace(workers=workers, timeout_worker_healthcheck=HEALTHCHECK)
    readiness = []
    sup = _Supervisor(config, ["sock"], lambda: readiness.append(True), tls)
    sup.init_processes()
    return sup, readiness


def _deaths(records) -> list[logging.LogRecord]:
    return [r for r in records if "exited" in r.getMessage()]


def _backoff_logged(record: logging.LogRecord) -> float:
    return float(re.search(r"starting another in (\d+) s", record.getMessage()).group(1))


def test_init_processes_starts_every_worker_with_sighup_ignored(monkeypatch, made, clock,
                                                                signals_restored):
    config = SimpleNamespace(workers=3, timeout_worker_healthcheck=HEALTHCHECK)
    readiness = []
    sup = _Supervisor(config, ["sock"], lambda: readiness.append(True), None)
    before = signal.getsignal(signal.SIGHUP)  # uvicorn's: queues the signal
    assert callable(before)
    sup.init_processes()
    assert len(made) == 3 and sup.processes == made
    assert all(p.started for p in made)
    assert all(p.hup_at_start is signal.SIG_IGN for p in made)
    assert all(p.sockets == ["sock"] for p in made)
    assert signal.getsignal(signal.SIGHUP) is before  # given back once they are started
    assert readiness == [True]
    assert not sup.should_exit.is_set()


def test_an_application_that_does_not_load_stops_the_start_before_any_worker(
        monkeypatch, made, signals_restored, berth_log):
    def fails(config):
        raise RuntimeError("the database is not there")
    monkeypatch.setattr(supervisor, "preload", fails)
    sup, readiness = _make_supervisor(monkeypatch, made)
    assert made == [] and readiness == [] and sup.should_exit.is_set()
    [record] = berth_log
    assert record.levelno == logging.ERROR and "did not load" in record.getMessage()
    assert "the database is not there" in record.exc_text


def test_a_worker_that_never_gets_ready_stops_the_start(monkeypatch, made, clock,
                                                        signals_restored, berth_log):
    original = FakeProcess.wait_until_ready
    monkeypatch.setattr(FakeProcess, "wait_until_ready",
                        lambda self, timeout, should_exit=None:
                        False if self is made[1] else original(self, timeout, should_exit))
    sup, readiness = _make_supervisor(monkeypatch, made)
    assert readiness == []
    assert sup.should_exit.is_set()
    assert [r.levelno for r in berth_log] == [logging.ERROR]
    assert "did not start" in berth_log[0].getMessage()


def test_living_workers_are_health_checked_and_left_alone(monkeypatch, made, clock,
                                                          signals_restored, berth_log):
    sup, _ = _make_supervisor(monkeypatch, made)
    for _ in range(3):
        clock.now += 10
        sup.keep_subprocess_alive()
    assert sup.processes == made and len(made) == 2
    assert all(p.health_checks == [HEALTHCHECK] * 3 for p in made)
    assert berth_log == []


def test_a_dead_worker_is_logged_once_and_restarted_after_its_backoff(
        monkeypatch, made, clock, signals_restored, berth_log):
    sup, _ = _make_supervisor(monkeypatch, made)
    first, other = made
    clock.now += STABLE_SECONDS + 1  # it ran long enough: the first backoff
    first.die(3)
    sup.keep_subprocess_alive()
    deaths = _deaths(berth_log)
    assert len(deaths) == 1 and deaths[0].levelno == logging.ERROR
    assert str(first.pid) in deaths[0].getMessage()
    assert "status 3" in deaths[0].getMessage()
    assert _backoff_logged(deaths[0]) == BACKOFF_FIRST
    assert len(made) == 2  # not yet

    clock.now += BACKOFF_FIRST * 0.9
    sup.keep_subprocess_alive()
    sup.keep_subprocess_alive()
    assert len(made) == 2
    assert len(_deaths(berth_log)) == 1  # still one line for one death

    clock.now += BACKOFF_FIRST * 0.1
    sup.keep_subprocess_alive()
    assert len(made) == 3
    replacement = made[2]
    assert replacement.started and replacement.hup_at_start is signal.SIG_IGN
    assert sup.processes == [replacement, other]
    assert len(_deaths(berth_log)) == 1
    assert not first.killed  # it was dead already: not health-checked, not killed
    assert first.health_checks == []
    sup.keep_subprocess_alive()
    assert len(made) == 3  # one restart per death


def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_stable_run(
        monkeypatch, made, clock, signals_restored, berth_log):
    sup, _ = _make_supervisor(monkeypatch, made, workers=1)
    waits = []
    uptime = 5.0  # each replacement dies soon after it starts
    expected, backoff = [], BACKOFF_FIRST
    while backoff < BACKOFF_MAX or expected.count(BACKOFF_MAX) < 2:
        expected.append(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX)
    for _ in expected:
        clock.now += uptime
        sup.processes[0].die()
        died_at = clock.now
        sup.keep_subprocess_alive()
        count = len(made)
        while len(made) == count:  # half-second steps, as uvicorn's loop runs
            assert clock.now - died_at <= 2 * BACKOFF_MAX, "never restarted"
            clock.now += 0.5
            sup.keep_subprocess_alive()
        waits.append(clock.now - died_at)
    assert waits == expected
    assert [_backoff_logged(r) for r in _deaths(berth_log)] == expected
    assert expected[0] == BACKOFF_FIRST and expected[-1] == BACKOFF_MAX

    # A worker that stays up STABLE_SECONDS starts afresh; one just short of it does not.
    clock.now += STABLE_SECONDS - 1
    sup.processes[0].die()
    sup.keep_subprocess_alive()
    assert _backoff_logged(_deaths(berth_log)[-1]) == BACKOFF_MAX
    clock.now += BACKOFF_MAX
    sup.keep_subprocess_alive()
    clock.now += STABLE_SECONDS
    sup.processes[0].die()
    sup.keep_subprocess_alive()
    assert _backoff_logged(_deaths(berth_log)[-1]) == BACKOFF_FIRST
    clock.now += 1
    sup.keep_subprocess_alive()
    clock.now += 1
    sup.processes[0].die()
    sup.keep_subprocess_alive()
    assert _backoff_logged(_deaths(berth_log)[-1]) == min(BACKOFF_FIRST * 2, BACKOFF_MAX)


def test_workers_back_off_independently(monkeypatch, made, clock, signals_restored,
                                        berth_log):
    sup, _ = _make_supervisor(monkeypatch, made)
    for _ in range(3):  # worker 0 dies quickly, three times: its backoff grows
        clock.now += 1
        sup.processes[0].die()
        sup.keep_subprocess_alive()
        clock.now += BACKOFF_MAX
        sup.keep_subprocess_alive()
    clock.now += 1
    sup.processes[1].die()  # worker 1's first death (it has been up < STABLE_SECONDS)
    sup.keep_subprocess_alive()
    last = _deaths(berth_log)[-1]
    assert str(sup.processes[1].pid) in last.getMessage()
    assert _backoff_logged(last) == BACKOFF_FIRST


def test_a_hung_worker_is_killed_and_restarted_with_backoff(monkeypatch, made, clock,
                                                            signals_restored, berth_log):
    sup, _ = _make_supervisor(monkeypatch, made)
    hung = made[0]
    hung.answers = False
    clock.now += 1
    sup.keep_subprocess_alive()
    assert hung.killed and hung.joined
    messages = [r.getMessage() for r in berth_log]
    assert len(messages) == 2
    assert "answered no health check for 7 s" in messages[0] and str(hung.pid) in messages[0]
    assert "exited" in messages[1]
    assert len(made) == 2
    sup.keep_subprocess_alive()  # waiting for its backoff: not checked or logged again
    assert len(hung.health_checks) == 1 and len(berth_log) == 2
    clock.now += BACKOFF_FIRST
    sup.keep_subprocess_alive()
    assert len(made) == 3 and sup.processes[0] is made[2]


def test_nothing_is_restarted_while_exiting(monkeypatch, made, clock, signals_restored,
                                            berth_log):
    sup, _ = _make_supervisor(monkeypatch, made)
    made[0].die()
    sup.should_exit.set()
    clock.now += 100
    sup.keep_subprocess_alive()
    assert len(made) == 2 and berth_log == []


def test_a_restart_due_is_not_made_once_exiting(monkeypatch, made, clock, signals_restored):
    sup, _ = _make_supervisor(monkeypatch, made)
    made[0].die()
    sup.keep_subprocess_alive()
    sup.should_exit.set()
    clock.now += BACKOFF_MAX
    sup.keep_subprocess_alive()
    assert len(made) == 2


# --- SIGHUP -----------------------------------------------------------------------------


@pytest.fixture
def kills(monkeypatch) -> list[tuple[int, int]]:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    return sent


@pytest.fixture
def tls_files(tmp_path) -> TlsFiles:
    ca = new_ca(tmp_path / "ca")
    files = TlsFiles(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    issue_pair(ca, Path(files.cert), Path(files.key), ["localhost"])
    return files


def test_sighup_is_passed_to_the_living_workers(monkeypatch, made, clock, signals_restored,
                                                kills, tls_files, berth_log):
    sup, _ = _make_supervisor(monkeypatch, made, tls=tls_files, workers=3)
    made[1].die()
    sup.handle_hup()
    assert kills == [(made[0].pid, signal.SIGHUP), (made[2].pid, signal.SIGHUP)]
    assert [r for r in berth_log if r.levelno >= logging.WARNING] == []
    assert len(made) == 3  # passed on, not a restart of every worker (uvicorn's own)


def test_sighup_reaches_handle_hup_through_uvicorns_signal_queue(
        monkeypatch, made, clock, signals_restored, kills, tls_files):
    sup, _ = _make_supervisor(monkeypatch, made, tls=tls_files)
    assert callable(signal.getsignal(signal.SIGHUP))  # else the signal ends the test run
    signal.raise_signal(signal.SIGHUP)  # the handler uvicorn installed queues it
    sup.handle_signals()
    assert sorted(kills) == sorted((p.pid, signal.SIGHUP) for p in made)
    assert len(made) == 2


@pytest.mark.parametrize("damage", ["missing", "mismatched"])
def test_sighup_with_a_bad_certificate_is_logged_and_not_passed_on(
        monkeypatch, made, clock, signals_restored, kills, tls_files, tmp_path, berth_log,
        damage):
    sup, _ = _make_supervisor(monkeypatch, made, tls=tls_files)
    if damage == "missing":
        Path(tls_files.key).unlink()
    else:
        issue_pair(new_ca(tmp_path / "other-ca"), Path(tls_files.cert), tmp_path / "x.key",
                   ["localhost"])
    sup.handle_hup()
    assert kills == []
    errors = [r for r in berth_log if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "not reloaded" in errors[0].getMessage() and "tls_" in errors[0].getMessage()


def test_sighup_without_tls_reloads_nothing(monkeypatch, made, clock, signals_restored, kills,
                                            berth_log):
    sup, _ = _make_supervisor(monkeypatch, made, tls=None)
    sup.handle_hup()
    assert kills == []
    assert len(made) == 2  # and no restart either
    assert [r.levelno for r in berth_log] == [logging.INFO]
    assert "nothing to reload" in berth_log[0].getMessage()
