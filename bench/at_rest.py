"""Is a pushed blob stored in plaintext? The encryption setup's sanity check that it compares
what it claims to: files under a server's data dirs at least as large as the blob whose first
MiB holds the blob's first 64 bytes (a plain copy; a sealed one never shows them)."""
from __future__ import annotations

import os
from pathlib import Path

from .oci import MIB, blob_chunks

SIGNATURE = 64


def plaintext_copies(dirs: list[Path], size: int, seed: int) -> dict:
    signature = bytes(next(blob_chunks(size, seed))[:SIGNATURE])
    found = scanned = 0
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                path = os.path.join(root, name)
                try:
                    if os.path.getsize(path) < size:
                        continue
                    with open(path, "rb") as f:
                        head = f.read(MIB)
                except OSError:
                    continue
                scanned += 1
                found += signature in head
    return {"plaintext_files": found, "large_files": scanned}
