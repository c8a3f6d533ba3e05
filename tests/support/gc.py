"""Helpers for the garbage collection e2e tests: images with chosen (shared) layers, the blob
files a node stores, ``berth admin`` as an operator runs it, ``berth worker`` processes, and
what their logs say about sweeps."""
from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from tests.support import media_types as mt
from tests.support.berth_node import BerthNode
from tests.support.credentials import admin_key
from tests.support.daemon import Daemon
from tests.support.ecr_login import aws_cli
from tests.support.oci_layout import Blob, Image, OciLayout, canonical_json
from tests.support.ports import wait_until
from tests.support.tarballs import make_tar_gz


def gc_env(grace: float = 2, interval: float = 1, **extra: str) -> dict[str, str]:
    """Settings for a node or worker that collects quickly: a short grace period, frequent
    sweeps, events delivered (and jobs polled) every second."""
    return {"BERTH_GC_GRACE_SECONDS": str(grace), "BERTH_GC_INTERVAL_SECONDS": str(interval),
            "BERTH_EVENT_DELIVERY_SECONDS": "1", "BERTH_JOB_POLL_SECONDS": "1", **extra}


def eventually(predicate: Callable[[], bool], what: str, timeout: float = 60,
               interval: float = 0.2) -> None:
    assert wait_until(predicate, timeout, interval), f"not within {timeout}s: {what}"


# -- images ------------------------------------------------------------------------------
def layer(size: int, name: str = "data.bin") -> Blob:
    """A gzip layer of one file of random (incompressible) bytes: unique to this run."""
    return Blob(mt.OCI_LAYER_GZIP, make_tar_gz({name: os.urandom(size)}))


def image_of(layers: list[Blob], label: str = "") -> Image:
    """An OCI image with exactly these layer blobs (shared layers are byte-identical)."""
    config = Blob(mt.OCI_CONFIG, canonical_json({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"gc.e2e": label}},
        "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layers]}}))
    manifest = Blob(mt.OCI_MANIFEST, canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers]}))
    return Image(manifest, config, layers, [])


def layout_of(image: Image, path: Path, tag: str = "latest") -> OciLayout:
    return OciLayout(path).write(image.blobs, {tag: image.manifest})


def content_blobs(image: Image) -> list[Blob]:
    """What the registry stores as blob objects: config and layers (manifests live in the
    database)."""
    return [image.config, *image.layers]


# -- blob files --------------------------------------------------------------------------
def blob_files(blobs_dir: Path, digest: str) -> list[Path]:
    """The stored files of a digest, under whichever key ref (aes256, kms-...) or none."""
    algorithm, hexpart = digest.split(":", 1)
    data = Path(blobs_dir) / "data"
    if not data.is_dir():
        return []
    roots = [data, *(p for p in data.iterdir() if p.is_dir() and p.name != algorithm)]
    return [path for root in roots
            if (path := root / algorithm / hexpart[:2] / hexpart).is_file()]


def is_stored(blobs_dir: Path, digest: str) -> bool:
    return bool(blob_files(blobs_dir, digest))


def stored_files(blobs_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Every stored blob file: relative path -> (inode, size, mtime_ns)."""
    root = Path(blobs_dir) / "data"
    found = {}
    for path in root.rglob("*") if root.exists() else ():
        if path.is_file():
            st = path.stat()
            found[str(path.relative_to(root))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return found


def plant_orphans(blobs_dir: Path, count: int, size: int = 64,
                  key_ref: str = "aes256") -> list[str]:
    """Objects in the storage that no row knows (what a crash between writing bytes and
    recording them leaves); their digests. The storage dates them by their last change
    (ctime, which cannot be set back): they become garbage a grace period from now."""
    digests = []
    for _ in range(count):
        hexpart = os.urandom(32).hex()
        path = Path(blobs_dir) / "data" / key_ref / "sha256" / hexpart[:2] / hexpart
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        digests.append(f"sha256:{hexpart}")
    return digests


# -- berth admin -------------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without AWS_* and BERTH_* settings, isolated from the machine's AWS
    configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    return {**env, "AWS_CONFIG_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", **extra}


def berth_admin(*args: str, env: dict[str, str]) -> dict:
    """``berth admin ARGS`` (the module, as the console script runs it); its JSON output."""
    proc = subprocess.run([sys.executable, "-m", "berth", "admin", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"berth admin {' '.join(args)}: {proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def admin_online(node: BerthNode, *args: str) -> dict:
    """``berth admin ARGS`` through the node's admin API, signed with the administrator's
    credentials file."""
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(node.credentials_dir / "admin-credentials"))
    return berth_admin(*args, "--endpoint-url", node.url, "--profile", "berth-admin", env=env)


def admin_offline(node: BerthNode, *args: str) -> dict:
    """``berth admin ARGS`` on a (stopped) node's data directory (and database and storage,
    when they are elsewhere), with the node's BERTH_* settings."""
    return berth_admin(*args, *settings_flags(node), env=clean_env(**_berth_settings(node.env)))


def settings_flags(node: BerthNode, data_dir: Path | None = None) -> list[str]:
    """The flags that point a process at the node's deployment: data dir, database, blobs."""
    flags = ["--data-dir", str(data_dir or node.data_dir)]
    if node.database_url and not node.database_url.startswith("sqlite"):
        flags += ["--database", node.database_url]
    if node.blobs_dir != node.data_dir / "blobs":
        flags += ["--storage", str(node.blobs_dir)]
    return flags


def _berth_settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("BERTH_")}


def aws_ecr(node: BerthNode, *args: str) -> dict:
    """``aws ecr ARGS`` against the node as its administrator; the JSON it prints."""
    env = {**admin_key(node.credentials_dir).env(), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.run([aws_cli(), "ecr", *args, "--endpoint-url", node.url, "--output",
                           "json"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"aws ecr {' '.join(args)}:\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


# -- berth worker ------------------------------------------------------------------------
class Worker:
    """A ``berth worker`` process with the given settings flags and environment, its output
    in a log file."""

    def __init__(self, log_path: Path, args: Iterable[str], env: dict[str, str]):
        argv = [sys.executable, "-m", "berth", "worker", *args]
        self.daemon = Daemon(argv, log_path, env=env)

    def start(self) -> "Worker":
        self.daemon.start()
        eventually(lambda: "running jobs:" in self.log_text() or not self.daemon.alive(),
                   "the worker started", 60)
        assert self.daemon.alive(), f"the worker exited:\n{self.log_text()}"
        return self

    @property
    def pid(self) -> int:
        return self.daemon.pid

    @property
    def name(self) -> str:
        """Its job claimant prefix (host:pid:nonce)."""
        match = re.search(r"worker (\S+) running jobs", self.log_text())
        assert match, self.log_text()
        return match.group(1)

    def alive(self) -> bool:
        return self.daemon.alive()

    def terminate(self, timeout: float = 15) -> tuple[int | None, float]:
        """SIGTERM; (exit status, seconds it took), status None if it did not exit."""
        started = time.monotonic()
        self.daemon.proc.send_signal(signal.SIGTERM)
        try:
            status = self.daemon.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        took = time.monotonic() - started
        self.daemon.stop()
        return status, took

    def kill(self) -> None:
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(timeout=10)
        self.daemon.stop()

    def stop(self) -> None:
        self.daemon.stop()

    def log_text(self) -> str:
        return self.daemon.log_path.read_text(errors="replace") \
            if self.daemon.log_path.exists() else ""


# -- logs --------------------------------------------------------------------------------
_REPORT = re.compile(r"garbage collection: (\{.*\})")


def gc_reports(log: str) -> list[dict]:
    """The sweeps' reports a log shows (those that freed or found anything)."""
    return [ast.literal_eval(m.group(1)) for m in _REPORT.finditer(log)]


def log_problems(log: str) -> list[str]:
    """Lines of a Berth log that show an error or a traceback."""
    return [line for line in log.splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]
