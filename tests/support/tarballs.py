"""Deterministic tar / tar.gz layer building and reading files back out of layer tars."""
from __future__ import annotations

import gzip
import io
import tarfile
from typing import Mapping


def make_tar(files: Mapping[str, bytes], mtime: int = 1_700_000_000) -> bytes:
    """An uncompressed tar of regular files (path -> content), with fixed metadata so bytes are stable."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            data = files[path]
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o755 if path.endswith(".sh") or "/bin/" in f"/{path}" else 0o644
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip with a zero mtime so the compressed digest depends only on content."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def make_tar_gz(files: Mapping[str, bytes]) -> bytes:
    return gzip_bytes(make_tar(files))


def maybe_gunzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_tar_files(layer: bytes) -> dict[str, bytes]:
    """Regular files in a (possibly gzipped) layer tar, keyed by path without a leading './' or '/'."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(maybe_gunzip(layer)), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                name = member.name
                while name.startswith(("./", "/")):
                    name = name[2:] if name.startswith("./") else name[1:]
                out[name] = tar.extractfile(member).read()
    return out
