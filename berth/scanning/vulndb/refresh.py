"""Refreshing the vulnerability database from mirrors a deployment trusts
(``BERTH_VULNDB_URLS``: OSV bulk zips or JSON files over HTTP(S); an air-gapped site points it
at its own server). Each file is downloaded to a temporary file (bounded in size, never held
in memory) and imported like ``berth admin vulndb import``: unchanged advisories are not
rewritten, and a change queues the rematch of continuously scanned images."""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import urllib3

from ...storage.metadata.database import Database

log = logging.getLogger("berth.scanning")

MAX_BYTES = 4 << 30
TIMEOUT = urllib3.Timeout(connect=10.0, read=120.0)


class DownloadFailed(Exception):
    """A mirror did not hand out the file (unreachable, an error status, too large)."""


def parse_urls(text: str) -> list[str]:
    """The URLs of the setting: separated by commas or white space; http and https only."""
    urls = [u for u in text.replace(",", " ").split() if u]
    for url in urls:
        if urlparse(url).scheme not in ("http", "https"):
            raise ValueError(f"vulndb URL {url!r} is not http(s)")
    return urls


def file_name(url: str) -> str:
    """The file name the URL ends in (``PyPI-all.zip``): it names the source."""
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    return name if name and name not in (".", "..") else "advisories.json"


def download(http: urllib3.PoolManager, url: str, folder: Path) -> Path:
    target = folder / file_name(url)
    try:
        response = http.request("GET", url, preload_content=False, timeout=TIMEOUT,
                                retries=urllib3.Retry(2, redirect=3))
    except urllib3.exceptions.HTTPError as exc:
        raise DownloadFailed(f"{url}: {exc}") from None
    try:
        if response.status != 200:
            raise DownloadFailed(f"{url}: HTTP {response.status}")
        written = 0
        with target.open("wb") as out:
            for chunk in response.stream(1 << 20):
                written += len(chunk)
                if written > MAX_BYTES:
                    raise DownloadFailed(f"{url}: larger than {MAX_BYTES} bytes")
                out.write(chunk)
    finally:
        response.release_conn()
    return target


def refresh(db: Database, urls: list[str], importer, http: urllib3.PoolManager | None = None
            ) -> list:
    """Download every URL and import them (``importer(db, paths)``); one mirror failing
    leaves the others' imports standing."""
    http = http or urllib3.PoolManager(num_pools=4)
    folder = Path(tempfile.mkdtemp(prefix="berth-vulndb-"))
    try:
        paths = []
        for url in urls:
            try:
                paths.append(download(http, url, folder))
            except DownloadFailed as exc:
                log.warning("vulnerability data not refreshed: %s", exc)
        return importer(db, paths) if paths else []
    finally:
        shutil.rmtree(folder, ignore_errors=True)
