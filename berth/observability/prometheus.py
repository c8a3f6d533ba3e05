"""Prometheus' multi-process mode for the worker processes of one ``berth serve``: the
directory their values live in, and what a scrape reads from it.

The serving process makes a fresh directory per start (``<base>/metrics/<pid>``) before
anything makes a metric, and passes it to the workers it spawns in the environment; each
worker marks itself dead when it stops, so its live gauges leave the sums. The base is off
the data directory's volume (``scratch_base``): prometheus_client writes its values through
mmap, and a page it touches on a full file system kills the process with SIGBUS -- a full
data disk must leave pulls answering, not take the server down."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..concurrency import blocking
from . import buffered

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_PREFIX = "gauge_live"


def scratch_base(data_dir: Path) -> Path:
    """A directory of this deployment's in memory (/dev/shm) where there is one, else under
    the system's temporary directory: never on the data directory's volume."""
    name = "berth-" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return root / name


def prepare_directory(data_dir: Path) -> Path:
    """A fresh directory for this process's workers, set in the environment; directories of
    earlier starts whose process is gone are removed."""
    base = data_dir / "metrics"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.iterdir():
        if old.name.isdigit() and not alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    path = base / str(os.getpid())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[ENV] = str(path)
    # prometheus_client chose in-memory values when it was imported; no metric exists yet
    # (berth.observability.metrics makes them on first use), so the choice can still change.
    values.ValueClass = values.get_value_class()
    return path


def remove_directory(path: Path) -> None:
    """This start's directory, and its parents up to the base once empty."""
    shutil.rmtree(path, ignore_errors=True)
    for parent in (path.parent, path.parent.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty: another start of the same data directory
            break


def multiprocess() -> bool:
    return bool(os.environ.get(ENV))


def mark_dead() -> None:
    """In a worker that stops: its live gauges (uploads, jobs running) no longer count."""
    if multiprocess():
        buffered.flush()
        mark_process_dead(os.getpid())


def scrape(accept: str | None) -> tuple[bytes, str]:
    """The exposition of every worker's metrics (of this process's when not multi-process),
    in the format the scraper accepts."""
    buffered.flush()  # this process's own counts are current; other workers' lag <= 1 s
    registry = _registry()
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


async def scrape_async(accept: str | None) -> tuple[bytes, str]:
    """``scrape`` in a thread: it reads every worker's files."""
    return await blocking(scrape, accept)


def _registry():
    if not multiprocess():
        return REGISTRY
    path = os.environ[ENV]
    _drop_dead_live_gauges(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    return registry


def _drop_dead_live_gauges(path: str) -> None:
    """A worker killed by a signal could not mark itself dead: uvicorn starts another and
    the killed one's uploads in progress would count forever."""
    for name in os.listdir(path):
        if name.startswith(_LIVE_PREFIX) and name.endswith(".db"):
            pid = name[:-3].rsplit("_", 1)[-1]
            if pid.isdigit() and not alive(int(pid)):
                mark_process_dead(int(pid), path)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
