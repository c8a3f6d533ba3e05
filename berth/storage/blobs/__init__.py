"""Blob drivers, chosen by URL. An unknown scheme is an error, never a silent fallback."""
from __future__ import annotations

from urllib.parse import unquote, urlparse

from .base import BlobDriver, BlobNotFound, UploadWriter
from .filesystem import FilesystemDriver

__all__ = ["BlobDriver", "BlobNotFound", "UploadWriter", "FilesystemDriver", "open_driver"]


def open_driver(url: str) -> BlobDriver:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemDriver(unquote(parsed.path))
    if parsed.scheme == "" and url:
        return FilesystemDriver(url)
    raise ValueError(f"unsupported blob storage URL {url!r} (supported: file://PATH or a path)")
