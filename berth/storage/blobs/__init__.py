"""Blob drivers, chosen by URL. An unknown scheme is an error, never a silent fallback."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from ..errors import StorageFull
from .base import BlobDriver, BlobNotFound, StoredObject, UploadTooLarge, UploadWriter
from .filesystem import FilesystemDriver

if TYPE_CHECKING:
    from ...config import Settings

__all__ = ["BlobDriver", "BlobNotFound", "StorageFull", "StoredObject", "UploadTooLarge",
           "UploadWriter", "FilesystemDriver", "open_driver"]

REDIRECT_MODES = ("auto", "on", "off")


def open_driver(settings: "Settings") -> BlobDriver:
    """The driver for ``settings.storage_url``: file://PATH or a path, or s3://bucket/prefix."""
    url = settings.storage_url
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemDriver(unquote(parsed.path))
    if parsed.scheme == "" and url:
        return FilesystemDriver(url)
    if parsed.scheme == "s3":
        from .s3 import S3Driver  # boto3's import cost only where S3 is used

        if settings.storage_redirect not in REDIRECT_MODES:
            raise ValueError(f"storage_redirect must be one of {', '.join(REDIRECT_MODES)}, "
                             f"not {settings.storage_redirect!r}")
        return S3Driver.from_url(url, settings.s3_endpoint_url, settings.s3_region,
                                 settings.s3_part_size, settings.storage_redirect != "off")
    raise ValueError(f"unsupported blob storage URL {url!r} "
                     "(supported: file://PATH, a path, or s3://bucket/prefix)")
