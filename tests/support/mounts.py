"""Finding and lazily unmounting mounts left under a test's own temporary directory."""
from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(base: Path) -> list[str]:
    base_s = str(Path(base).resolve())
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == base_s or point.startswith(base_s + "/"):
                found.append(point)
    return sorted(set(found), key=len, reverse=True)


def unmount_under(base: Path) -> None:
    for point in mounts_under(base):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=30)
