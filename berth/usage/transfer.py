"""Data transfer per repository: bytes pulled (blob and manifest GETs answered 200 or 206),
inside or outside the deployment's networks. Each process adds them up in memory per (day,
repository) -- an observer of the request records, a dict update under a lock -- and a
flusher thread adds its totals to the day's rows every few seconds (the setting
usage_flush_seconds), so that processes and nodes sum up in the database. A blob GET
redirected to the storage (S3's 307) counts the bytes the storage sends for it: the client
pulls them from the registry's storage all the same (as ECR bills data transfer out whatever
serves it)."""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from functools import lru_cache
from typing import Callable

from ..observability import RequestRecord
from ..observability.flusher import Flusher
from ..storage.metadata import usage_daily
from ..storage.metadata.database import Database
from .sampling import utc_day

log = logging.getLogger("berth.usage")

PULL_ROUTES = ("/blobs/{digest}", "/manifests/{reference}")
PULL_STATUSES = frozenset((200, 206))
REDIRECT_STATUS = 307
DOWNLOAD_URL_OPERATION = "GetDownloadUrlForLayer"
FLUSH_SECONDS = 5.0  # the default of usage_flush_seconds
Key = tuple[str, str, str, str]  # day, account, region, repository


class Networks:
    """The deployment's networks (comma-separated CIDRs); an address that does not parse is
    outside."""

    def __init__(self, cidrs: str = ""):
        self.networks = tuple(ipaddress.ip_network(part.strip(), strict=False)
                              for part in cidrs.split(",") if part.strip())
        self._cached = lru_cache(maxsize=4096)(self._contains)  # few distinct clients

    def _contains(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
        return any(ip in network for network in self.networks)

    def __contains__(self, address: str) -> bool:
        return self._cached(address)


def pulled_bytes(record: RequestRecord) -> int:
    """The bytes a pull moved: what Berth sent, or what the storage sends for a redirect
    (a 307, or a GetDownloadUrlForLayer URL to the storage: counted when handed out, as
    the registry never sees its use; a URL to Berth itself is counted when it is used)."""
    if record.route == DOWNLOAD_URL_OPERATION:
        return record.redirected_bytes if record.status == 200 else 0
    if (record.method != "GET" or not record.repository
            or not record.route.endswith(PULL_ROUTES)):
        return 0
    if record.status in PULL_STATUSES:
        return record.bytes_out
    if record.status == REDIRECT_STATUS:
        return record.redirected_bytes
    return 0


def is_pull(record: RequestRecord) -> bool:
    return pulled_bytes(record) > 0


class TransferCounter:
    """The bytes this process sent to pullers since its last flush."""

    def __init__(self, networks: Networks, clock: Callable[[], float] = time.time):
        self.networks = networks
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[Key, list[int]] = {}

    def observe(self, record: RequestRecord) -> None:
        """The observer: cheap, and never raises into the request."""
        try:
            size = pulled_bytes(record)
            if size <= 0:
                return
            key = (utc_day(self.clock()), record.account_id, record.region, record.repository)
            side = 0 if record.source_ip in self.networks else 1
            with self._lock:
                self._pending.setdefault(key, [0, 0])[side] += size
        except Exception:
            log.exception("usage: a request record could not be counted")

    def pending(self) -> dict[Key, tuple[int, int]]:
        with self._lock:
            return {key: (inside, outside) for key, (inside, outside) in self._pending.items()}

    def flush(self, db: Database) -> int:
        """Add what was counted to the day's rows; on failure keep it for the next flush.
        Returns the number of rows written."""
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        now = self.clock()
        rows = [{"day": day, "account_id": account, "region": region, "repository": name,
                 "bytes_inside": inside, "bytes_outside": outside, "updated_at": now}
                for (day, account, region, name), (inside, outside) in sorted(taken.items())]
        try:
            with db.write(durable=False) as tx:
                usage_daily.add_transfers(tx, rows)
        except BaseException:
            self._restore(taken)
            raise
        return len(rows)

    def _restore(self, taken: dict[Key, list[int]]) -> None:
        with self._lock:
            for key, (inside, outside) in taken.items():
                entry = self._pending.setdefault(key, [0, 0])
                entry[0] += inside
                entry[1] += outside


class TransferFlusher(Flusher):
    """The counter's flusher: every ``interval`` seconds, and once more when stopped."""

    def __init__(self, counter: TransferCounter, db: Database,
                 interval: float = FLUSH_SECONDS):
        super().__init__("usage transfer counts", counter, db, interval)
        self.counter = counter
