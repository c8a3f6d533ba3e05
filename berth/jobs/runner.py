"""Periodic jobs. Each run takes a lease in the metadata database first, so that among all
workers and nodes only one runs a job at a time; a holder that dies loses it at expiry."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from ..registry.concurrency import blocking
from ..storage.metadata import leases
from ..storage.metadata.database import Database

log = logging.getLogger("berth.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[], object]


class JobRunner:
    def __init__(self, db: Database, jobs: list[Job]):
        self.db = db
        self.jobs = jobs
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job)) for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def run_once(self, job: Job) -> bool:
        """Run the job if this holder gets its lease; True if it ran."""
        with self.db.write() as conn:
            if not leases.acquire(conn, job.name, self.holder, time.time(), job.interval):
                return False
        job.run()
        return True

    async def _loop(self, job: Job) -> None:
        while True:
            try:
                await blocking(self.run_once, job)
            except Exception:
                log.exception("job %s failed; retrying next interval", job.name)
            await asyncio.sleep(job.interval)
