"""Resident memory of a server: its process and every process below it (the workers)."""
from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> list[int]:
    """``pid``'s children, their children, and so on."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants together."""
    return sum(rss_bytes(p) for p in [pid, *descendants(pid)])
