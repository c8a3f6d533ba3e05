"""Server processes: one per CPU unless --workers says otherwise, all serving one port, and
none outliving the process that started them, even when it is killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


from berth.process import default_workers
from tests.support.berth_node import BerthNode
from tests.support.ports import wait_until


def _workers(pid: int) -> list[int]:
    """The worker processes among the children of ``pid``: forked from it, they run its
    command line."""
    own = Path(f"/proc/{pid}/cmdline").read_bytes()
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes() == own:
                    found.append(int(child))
            except FileNotFoundError:  # gone meanwhile
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        s.listen()
        return True


def test_one_worker_per_cpu_by_default(tmp_path):
    node = BerthNode(tmp_path).start()
    try:
        expected = default_workers()
        assert len(_workers(node.daemon.pid)) == (expected if expected > 1 else 0)
        # Said once every worker answers (the first up may answer /v2/ before).
        assert wait_until(lambda: f"({expected} worker" in node.log_text(), 60)
        assert node.session().get(node.url + "/v2/_catalog", timeout=10).status_code == 200
    finally:
        node.stop()


def test_workers_die_with_a_killed_server_and_free_the_port(tmp_path):
    node = BerthNode(tmp_path, extra_args=("--workers", "2")).start()
    try:
        assert wait_until(lambda: len(_workers(node.daemon.pid)) == 2, 30)
        workers = _workers(node.daemon.pid)
        session = node.session()
        for _ in range(20):  # both serve: requests spread over them
            assert session.get(node.url + "/v2/", timeout=10).status_code == 200
        os.kill(node.daemon.pid, signal.SIGKILL)  # the supervisor only, not its group
        node.daemon.proc.wait(timeout=10)
        assert wait_until(lambda: not any(_alive(w) for w in workers), 10), \
            "workers outlived the server"
        # A killed worker's leader thread turns zombie before its other threads have exited
        # and closed its files: the port frees a moment later, not at once.
        assert wait_until(lambda: _bindable(node.port), 10), "nobody may listen on the port"
        assert node.start().session().get(node.url + "/v2/", timeout=10).status_code == 200
    finally:
        node.stop()


def _settled_workers(pid: int) -> list[int]:
    """The two workers, once two looks a moment apart agree: a child caught between its fork
    and its exec runs the same command line and would pass for one."""
    seen: list[list[int]] = []

    def settled() -> bool:
        seen.append(sorted(_workers(pid)))
        time.sleep(0.3)
        return len(seen[-1]) == 2 and sorted(_workers(pid)) == seen[-1]
    assert wait_until(settled, 30), seen[-3:]
    return seen[-1]


def test_a_worker_that_dies_is_replaced_and_logged_once(tmp_path):
    node = BerthNode(tmp_path, extra_args=("--workers", "2")).start()
    try:
        victim = _settled_workers(node.daemon.pid)[0]
        os.kill(victim, signal.SIGKILL)
        # Noticed (the log says when the supervisor saw it), then replaced.
        assert wait_until(lambda: f"server process {victim} exited" in node.log_text(), 60), \
            node.log_text()
        assert wait_until(lambda: len(_workers(node.daemon.pid)) == 2
                          and victim not in _workers(node.daemon.pid), 60)
        log = node.log_text()
        assert log.count(f"server process {victim} exited") == 1, log
        session = node.session()
        for _ in range(10):
            assert session.get(node.url + "/v2/", timeout=10).status_code == 200
    finally:
        node.stop()
