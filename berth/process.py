"""Process-wide tuning of a server process."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal

log = logging.getLogger(__name__)

# Set by the serving process for the worker processes it starts.
SUPERVISOR_ENV = "_BERTH_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1
# Workers when --workers is not given: one per CPU this process may use, up to this many.
MAX_DEFAULT_WORKERS = 8

# Everything Berth writes holds or reveals tenants' data: nothing for group or others.
PRIVATE_UMASK = 0o077

# glibc's mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blob bytes pass through in buffers of about 1 MiB. glibc would map each one fresh with mmap
# (and the heap it frees would go back to the kernel), so every buffer costs a page fault per
# 4 KiB -- expensive on virtual machines. Served from a heap kept up to this size instead.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def tune_malloc() -> bool:
    """Keep freed buffers for reuse (glibc only); False where there is no mallopt."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        log.warning("mallopt refused the buffer settings; running with malloc's defaults")
    return ok


def keep_files_private() -> None:
    """Whatever this process and the processes it starts create is its user's alone: 0700
    directories, 0600 files (the data directory, metadata.db with SQLite's -wal, -shm and
    journal, master.key, admin-credentials, blob and upload files). A umask rather than a
    mode at each call: SQLite and other libraries make files of their own, and code added
    later cannot forget it. PostgreSQL's server does the same."""
    os.umask(PRIVATE_UMASK)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Berth's log lines on stderr, as text or JSON (berth.observability.logs); applying it
    again (a worker that runs in the serving process itself) changes nothing."""
    from .observability.logs import install

    install(level, log_format)


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


def die_with_supervisor() -> None:
    """In a worker process: be killed when the process that started the workers dies, even
    by SIGKILL, so no orphaned worker keeps the port and serves on (Linux; elsewhere a no-op)."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or int(supervisor) == os.getpid():
        return  # the serving process itself (a single worker runs in it)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError, TypeError):
        return
    if os.getppid() != int(supervisor):  # it died before the request took hold
        os.kill(os.getpid(), signal.SIGKILL)
