"""``berth worker``: a process that runs background jobs only (no HTTP), so that heavy work
can move off the nodes that serve pushes and pulls. Any number of workers and servers share
the jobs through the database; a killed worker's jobs move on after their lease."""
from __future__ import annotations

import asyncio
import logging
import signal

from ..app import job_runner, open_registry
from ..config import Settings
from ..jobs.runner import JobRunner
from .startup import start_metrics_server

log = logging.getLogger("berth.worker")


def run(settings: Settings) -> int:
    registry, _ = open_registry(settings)
    # Its jobs' metrics are this process's own: scraped on the metrics port, if one is set.
    metrics_server = start_metrics_server(settings)
    try:
        runner = job_runner(settings, registry)
        log.info("worker %s running jobs: %s", runner.worker,
                 ", ".join(sorted(runner.kinds)))
        asyncio.run(_until_stopped(runner))
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        registry.close()
    log.info("worker stopped")
    return 0


async def _until_stopped(runner: JobRunner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop()  # running jobs are asked to stop and recorded
