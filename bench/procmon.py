"""Process-tree sampling from /proc: summed and per-process RSS (peaks over a workload) and CPU
time."""
from __future__ import annotations

import os
import threading

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def process_tree(root: int | list[int]) -> list[int]:
    """`root` (one pid or several) and all descendants (via /proc/<pid>/task/<tid>/children)."""
    out, stack = [], [root] if isinstance(root, int) else list(root)
    while stack:
        pid = stack.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def process_rss(pids: list[int]) -> list[int]:
    """Resident set size in bytes of each process still there."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                out.append(int(f.read().split()[1]) * PAGE)
        except (OSError, IndexError, ValueError):
            pass
    return out


def process_pss(pids: list[int]) -> list[int]:
    """Proportional set size in bytes of each process still there: a page shared by n
    processes counts 1/n in each, so the sum is the memory the tree really holds."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        out.append(int(line.split()[1]) * 1024)
                        break
        except (OSError, IndexError, ValueError):
            pass
    return out


def tree_rss(pids: list[int]) -> int:
    """Sum of resident set sizes in bytes (shared pages of forked workers count once per process)."""
    return sum(process_rss(pids))


def tree_cpu_seconds(root: int | list[int]) -> float:
    """user+sys CPU seconds of the live process tree (incl. reaped children's cumulative time)."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[11..14] = utime stime cutime cstime (stat fields 14-17)
            total += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def system_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = v[:8]
    # irq/softirq time is left out: loopback traffic of the benchmark itself lands there.
    return (user + nice + system) / TICK, steal / TICK


class RssSampler:
    """Samples the summed RSS of a process tree every `interval` s in a background thread."""

    def __init__(self, root_pid: int | list[int], interval: float = 0.05):
        self.root, self.interval = root_pid, interval
        self.peak = 0
        self.peak_process = 0  # the largest single process (a worker), for per-process limits
        self.peak_pss = 0  # summed PSS, sampled at every tree walk (reading it costs more)
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pids: list[int] = []

    def sample(self) -> int:
        if self.samples % 20 == 0 or not self._pids:  # re-walk the tree every ~1 s
            self._pids = process_tree(self.root)
            self.peak_pss = max(self.peak_pss, sum(process_pss(self._pids)))
        sizes = process_rss(self._pids)
        rss = sum(sizes)
        self.peak = max(self.peak, rss)
        self.peak_process = max([self.peak_process, *sizes])
        self.samples += 1
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def current_rss(root_pid: int | list[int]) -> int:
    return tree_rss(process_tree(root_pid))


def current_pss(root_pid: int | list[int]) -> int:
    return sum(process_pss(process_tree(root_pid)))

