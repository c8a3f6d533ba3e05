"""The serving processes: the port bound before anything else can fail later, workers forked
from a supervisor that loaded the application once, ready before the server says so,
restarted with backoff should one die, and SIGHUP passed on to them (a certificate renewal)
instead of restarting them."""
from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing import Pipe
from typing import Callable

import uvicorn
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess
from uvicorn.supervisors.multiprocess import Process as UvicornProcess

from ..process import die_with_supervisor
from .tls import TlsError, TlsFiles

log = logging.getLogger("berth")

# A worker loading the application on a busy machine may not answer for a while: only one
# silent this long is taken for hung (uvicorn's default, 5 s, killed workers under load).
HEALTHCHECK_SECONDS = 60
STARTUP_SECONDS = 300
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# A worker that stayed up this long starts the backoff afresh when it dies.
STABLE_SECONDS = 60.0


class StartupError(Exception):
    """The server cannot start: one line naming the setting and the problem."""


def listen(host: str, port: int) -> socket.socket:
    """The bound socket the workers share (StartupError: the port is taken, say)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = {errno.EADDRINUSE: "the port is in use (another server?)",
                  errno.EADDRNOTAVAIL: "the address is not one of this machine's",
                  errno.EACCES: "permission denied (ports below 1024 need privileges)"}
        raise StartupError(f"host/port: cannot listen on {host}:{port}: "
                           f"{reason.get(exc.errno, exc.strerror)}") from exc
    sock.set_inheritable(True)
    return sock


def run(config: uvicorn.Config, sockets: list[socket.socket], on_ready: Callable[[], None],
        tls: TlsFiles | None) -> bool:
    """Serve until told to stop: in this process for one worker, else in a supervisor.
    False if the server never became ready."""
    ready = []

    def now_ready() -> None:
        ready.append(True)
        on_ready()

    if config.workers <= 1:
        if tls is None:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nothing to reload; don't die
        config.load_app()
        _ReadyServer(config, now_ready).run(sockets=sockets)
    else:
        _Supervisor(config, sockets, now_ready, tls).run()
    return bool(ready)


class Process(UvicornProcess):
    """A worker forked from the supervisor, not spawned: what the supervisor imported and
    loaded before (the application's modules, the ECR model; frozen out of the collector's
    reach) is shared copy-on-write by every worker instead of loaded again by each."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]):
        self.config = config
        self._server = None
        self.parent_conn, self.child_conn = Pipe()
        self.process = _FORK.Process(target=self._forked, args=(sockets,))

    def _forked(self, sockets: list[socket.socket]) -> None:
        die_with_supervisor()
        for sig in SIGNALS:  # the supervisor's handlers queue signals for its own loop
            if sig != signal.SIGHUP:  # ignored until a TLS worker's reload takes it
                signal.signal(sig, signal.SIG_DFL)
        self.target(sockets)


_FORK = multiprocessing.get_context("fork")


def preload(config: uvicorn.Config) -> None:
    """In the supervisor, before forking workers: build what each would build, the
    application included (the workers' config then hands them this one)."""
    from ..api.http import protocol  # noqa: F401 - the workers' HTTP protocol
    from ..app import prebuilt_app
    from ..quotas.buckets import prepare_node

    prepare_node()  # the rate buckets the workers share
    config.app, config.factory = prebuilt_app(), True


@contextlib.contextmanager
def _hangups_ignored():
    """Processes started meanwhile begin with SIGHUP ignored (a forked child inherits the
    disposition): one arriving while a worker loads cannot kill it. A worker serving TLS
    installs its reload handler as it loads."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


class _ReadyServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]):
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_ready()


class _Supervisor(Multiprocess):
    def __init__(self, config, sockets, on_ready: Callable[[], None], tls: TlsFiles | None):
        super().__init__(config, sockets)
        self._on_ready = on_ready
        self._tls = tls
        self._due: dict[int, float] = {}  # slot of a dead worker: when to start another
        self._backoffs: dict[int, float] = {}  # slot: the backoff its last death got
        self._started_at: dict[int, float] = {}

    def init_processes(self) -> None:
        try:
            preload(self.config)
        except Exception:
            log.exception("cannot start: the application did not load")
            self.should_exit.set()
            return
        with _hangups_ignored():
            for _ in range(self.processes_num):
                process = Process(self.config, self.sockets)
                process.start()
                self.processes.append(process)
        deadline = time.monotonic() + STARTUP_SECONDS
        for process in self.processes:
            left = deadline - time.monotonic()
            if not process.wait_until_ready(max(left, 1), self.should_exit):
                if not self.should_exit.is_set():
                    log.error("cannot start: a server process did not start (see above)")
                    self.should_exit.set()
                return
        now = time.monotonic()
        self._started_at = {slot: now for slot in range(len(self.processes))}
        self._on_ready()

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.process.exitcode is None and slot not in self._due:
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                log.error("server process %s answered no health check for %d s: killing it",
                          process.pid, self.config.timeout_worker_healthcheck)
                process.kill()
                process.join()
            if self.should_exit.is_set():
                return
            self._restart(slot, process)

    def _restart(self, slot: int, dead: UvicornProcess) -> None:
        """Start a dead worker again once its backoff has passed (logged once per death)."""
        now = time.monotonic()
        if slot not in self._due:
            stable = now - self._started_at.get(slot, now) >= STABLE_SECONDS
            previous = self._backoffs.get(slot, 0.0)
            backoff = BACKOFF_FIRST if stable or not previous else min(previous * 2,
                                                                        BACKOFF_MAX)
            self._backoffs[slot], self._due[slot] = backoff, now + backoff
            log.error("server process %s exited (status %s); starting another in %.0f s",
                      dead.pid, dead.process.exitcode, backoff)
            return
        if now < self._due[slot]:
            return
        del self._due[slot]
        process = Process(self.config, self.sockets)
        with _hangups_ignored():
            process.start()
        self.processes[slot] = process
        self._started_at[slot] = now

    def handle_hup(self) -> None:
        """Workers re-read the certificate themselves: checked here first, so a bad renewal
        is reported once and every worker keeps serving with the certificate it has."""
        if self._tls is None:
            log.info("SIGHUP: nothing to reload (no TLS certificate configured)")
            return
        try:
            self._tls.context()
        except TlsError as exc:
            log.error("SIGHUP: certificate not reloaded, the previous one stays in use: %s",
                      exc)
            return
        for process in self.processes:
            if process.process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)
