"""The notifications setup: small-image pushes with no webhook target vs three targets of the
administrator account, one of them dead (a loopback port nothing listens on: every attempt is
refused, retried with backoff, then dead-lettered), same run.

The two live targets are served by a receiver process of the bench (asyncio, one port each,
answering 200); the targets are put through the admin API right after the
server starts, before the workloads. Both variants run the same server otherwise (events
delivered every second). After the workloads, the receivers' counts say how much was
delivered while the pushes ran."""
from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import statistics
import time
from pathlib import Path

try:
    import uvloop
except ImportError:  # the bench's own load generator uses it when there
    uvloop = None

from .procmon import tree_cpu_seconds
from .servers import Berth

_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts,
                  index: int) -> None:
    """Keep-alive HTTP/1.1: read each POST's head and body, count it, answer 200."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            found = _LENGTH.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            counts[index] += 1  # this process alone writes the counts
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(ports: list[int], counts, ready) -> None:
    """The receiver process: one server per port on one event loop (uvloop when there), as
    lean as a receiver can be, since it shares the machine's CPUs with the server under
    test (a real receiver runs elsewhere); its CPU time is reported beside the figures."""
    async def main() -> None:
        for i, port in enumerate(ports):
            await asyncio.start_server(
                lambda r, w, i=i: _answer(r, w, counts, i), "127.0.0.1", port)
        ready.set()
        await asyncio.Event().wait()
    (uvloop.run if uvloop is not None else asyncio.run)(main())


class NotifyBerth(Berth):
    def __init__(self, workdir: Path, o, targets: bool):
        env = {"BERTH_EVENT_DELIVERY_SECONDS": "1", "BERTH_JOB_POLL_SECONDS": "1"}
        super().__init__(workdir, o.berth_python, o.berth_workers, list(o.berth_arg), env)
        self.with_targets = targets
        self.receiver_ports = [_free_port(), _free_port()]
        self.counts = None
        self.receiver = None

    def start(self, timeout: float = 60.0) -> None:
        super().start(timeout)
        if not self.with_targets:
            return
        mp = multiprocessing.get_context("fork")
        self.counts, ready = mp.Array("l", len(self.receiver_ports)), mp.Event()
        self.receiver = mp.Process(target=_serve, args=(self.receiver_ports, self.counts, ready),
                                   daemon=True)
        self.receiver.start()
        ready.wait(10)
        admin = self._admin()
        for i, port in enumerate(self.receiver_ports):
            admin.call("PutEventTarget", {"Name": f"live-{i}",
                                          "Url": f"http://127.0.0.1:{port}/hook"})
        admin.call("PutEventTarget", {"Name": "dead", "Url": f"http://127.0.0.1:{_free_port()}/"})

    def _admin(self):
        from botocore.credentials import Credentials

        from berth.cli.admin_client import AdminClient

        client = AdminClient.__new__(AdminClient)
        client.url, client.region, client.timeout = self.base_url + "/admin", "us-east-1", 30.0
        client.credentials = Credentials(*self.signing_credentials())
        return client

    def results(self) -> dict:
        """Deliveries each live receiver got by now, and what the dead target's queue holds."""
        if not self.with_targets:
            return {}
        time.sleep(3)  # the last pushes' events: delivered within a poll or two
        out = {"received": list(self.counts),
               "receiver_cpu_s": round(tree_cpu_seconds(self.receiver.pid), 2)}
        try:
            found = self._admin().call("ListEventDeliveries", {"TargetName": "dead",
                                                               "MaxResults": "1000"})
            states = [d["State"] for d in found["Deliveries"]]
            out["dead_target"] = {s: states.count(s) for s in set(states)}
        except Exception as e:  # noqa: BLE001 - reported in the results
            out["error"] = repr(e)
        return {"notifications": out}

    def stop(self, keep_data: bool = False) -> None:
        if self.receiver is not None:
            self.receiver.kill()
            self.receiver.join(5)
            self.receiver = None
        super().stop(keep_data)


def notes(runs: dict[str, list[dict]], o) -> list[str]:
    def med(key: str) -> float | None:
        vals = [r["push_images"]["images_s"] for r in runs.get(key, [])
                if isinstance(r.get("push_images", {}).get("images_s"), (int, float))]
        return statistics.median(vals) if vals else None

    out = ["'3 targets': two live webhook receivers (a bench process, HTTP 200) and one dead "
           "(connection refused), all matching every push; put through the admin API before "
           "the workloads. Events delivered every second in both variants."]
    received = [r.get("notifications", {}).get("received") for r in runs.get("berth-notify", [])]
    if any(received):
        out.append(f"Deliveries received per live target (per run): {received}.")
        cpu = [r.get("notifications", {}).get("receiver_cpu_s")
               for r in runs.get("berth-notify", [])]
        out.append(f"CPU seconds the receiver process used over the whole run (it shares "
                   f"the machine's CPUs with the server): {cpu}.")
    a, b = med("berth-notify"), med("berth")
    if a is not None and b:
        out.append(f"Target push throughput with targets within 5 % of none: {a / b:.3f}× — "
                   + ("met" if a / b >= 0.95 else "**missed**") + ".")
    return out
