"""A throwaway single-node Ceph cluster with a RADOS gateway (S3) from Debian's packages.

One ceph-mon, one ceph-osd (bluestore on a sparse file in the temp dir) and radosgw, all on 127.0.0.1,
no cephx, every path (config, data, logs, admin sockets, pid files) inside a private temp dir. No ceph-mgr:
radosgw does not need one. Each daemon runs in the foreground in its own process group (tests.support.daemon),
so stop() kills exactly what start() created.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.daemon import Daemon
from tests.support.ports import free_port, wait_until

S3_MIN_PART = 5 * 1024 * 1024
START_TIMEOUT = int(os.environ.get("BERTH_CEPH_START_TIMEOUT", "180"))
BINARIES = ("ceph", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph-authtool")

CONF = """\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = {base}/run
admin socket = {base}/run/$cluster-$name.asok
pid file = {base}/run/$cluster-$name.pid
log file = {base}/log/$cluster-$name.log
log to stderr = false
err to stderr = true
crash dir = {base}/crash
keyring = {base}/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail crit = 1
mon data avail warn = 2
# Commit monitor map changes (OSD boot, pool creation) at once rather than batching them for a second.
paxos propose interval = 0.01
paxos min wait = 0.01

[mon]
mon data = {base}/mon.$id

[osd]
osd data = {base}/osd.$id
osd objectstore = bluestore
bluestore block path = {base}/osd.$id.block
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 939524096

[client]
rgw data = {base}/rgw
# radosgw defaults this to "secure", which auth "none" cannot provide: it would never reach the monitor.
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw thread pool size = 16
"""


class CephCluster:
    region = "us-east-1"

    def __init__(self):
        missing = [b for b in BINARIES if not shutil.which(b)]
        if missing:
            raise RuntimeError(f"Ceph tools missing: {missing}; install ceph-mon ceph-osd radosgw")
        self.base = Path(tempfile.mkdtemp(prefix="berth-ceph-"))
        self.conf = self.base / "ceph.conf"
        self.mon_port = free_port()
        self.rgw_port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.rgw_port}"
        self.access_key = "BERTH" + uuid.uuid4().hex[:15].upper()
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.daemons: dict[str, Daemon] = {}
        self._shared_bucket: str | None = None

    # -- helpers -------------------------------------------------------------------------------------------
    def _run(self, *argv: str, timeout: float = 60) -> str:
        result = subprocess.run([argv[0], "-c", str(self.conf), *argv[1:]], capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                               f"\n{self.logs()}")
        return result.stdout

    def _daemon(self, name: str, *argv: str) -> None:
        self.daemons[name] = Daemon([argv[0], "-f", "-c", self.conf, *argv[1:]], self.base / "log" / f"{name}.out")
        self.daemons[name].start()

    def log_files(self) -> dict[str, Path]:
        log = self.base / "log"
        return {"ceph-mon": log / "ceph-mon.a.log", "ceph-osd": log / "ceph-osd.0.log",
                "radosgw": log / "ceph-client.rgw.log"}

    def logs(self, limit: int = 6000) -> str:
        parts = []
        for path in sorted((self.base / "log").glob("*")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name} ---\n{text[-limit:]}")
        return "\n".join(parts)

    def _check_alive(self) -> None:
        for name, daemon in self.daemons.items():
            if not daemon.alive():
                raise RuntimeError(f"{name} exited with {daemon.returncode()}\n{self.logs()}")

    def client(self, service: str = "s3"):
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def create_bucket(self) -> str:
        name = "b-" + uuid.uuid4().hex[:16]
        self.client().create_bucket(Bucket=name)
        return name

    @property
    def shared_bucket(self) -> str:
        """One bucket for tests that each take their own prefix in it."""
        if self._shared_bucket is None:
            self._shared_bucket = self.create_bucket()
        return self._shared_bucket

    def env(self) -> dict[str, str]:
        """boto3's usual variables for a process (a `berth serve`) that talks to this gateway."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": self.region, "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}

    def storage(self, prefix: str = "berth") -> "S3Storage":
        """A fresh bucket for `berth serve --storage s3://<bucket>/<prefix>`."""
        return S3Storage(self, self.create_bucket(), prefix)

    def driver(self, bucket: str, prefix: str = "", part_size: int = S3_MIN_PART, **options):
        """Berth's S3 blob driver on ``bucket``/``prefix``, with a client made the way Berth makes
        it (tests default to S3's minimum part size, so that a few MiB span several parts)."""
        from berth.storage.blobs.s3 import S3Driver
        from berth.storage.blobs.s3_client import make_client

        client = make_client(self.endpoint_url, self.region, aws_access_key_id=self.access_key,
                             aws_secret_access_key=self.secret_key)
        return S3Driver(client, bucket, prefix, part_size, **options)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "CephCluster":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        fsid = str(uuid.uuid4())
        for sub in ("run", "log", "crash", "mon.a", "osd.0", "rgw"):
            (self.base / sub).mkdir()
        self.conf.write_text(CONF.format(fsid=fsid, base=self.base, mon_port=self.mon_port, rgw_port=self.rgw_port))

        # Monitor. mkfs insists on a keyring even without cephx.
        subprocess.run(["ceph-authtool", "--create-keyring", str(self.base / "keyring"), "--gen-key", "-n", "mon.",
                        "--cap", "mon", "allow *"], check=True, capture_output=True)
        monmap = str(self.base / "monmap")
        subprocess.run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                        f"[v2:127.0.0.1:{self.mon_port}]", monmap], check=True, capture_output=True)
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap)
        self._daemon("mon.a", "ceph-mon", "-i", "a")
        self._run("ceph", "mon", "stat", "--connect-timeout", "30")

        # One OSD: bluestore creates the sparse block file itself.
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("ceph", "osd", "create", osd_uuid).strip()
        assert osd_id == "0", osd_id
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, timeout=120)
        self._daemon("osd.0", "ceph-osd", "-i", "0")
        if not wait_until(self._osd_up, timeout=60, interval=0.5):
            raise RuntimeError(f"osd.0 did not come up\n{self._run('ceph', 'osd', 'tree')}\n{self.logs()}")

        # Gateway and an S3 user.
        self._daemon("rgw", "radosgw", "-n", "client.rgw")
        self._run("radosgw-admin", "-n", "client.admin", "user", "create", "--uid", "berth",
                  "--display-name", "berth", "--access-key", self.access_key, "--secret", self.secret_key,
                  timeout=120)
        last_error: list[Exception] = []

        def s3_works() -> bool:
            self._check_alive()
            try:
                s3 = self.client()
                bucket = self.create_bucket()
                s3.put_object(Bucket=bucket, Key="probe", Body=b"probe")
                ok = s3.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"probe"
                s3.delete_object(Bucket=bucket, Key="probe")
                s3.delete_bucket(Bucket=bucket)
                return ok
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last_error[:] = [exc]
                return False

        if not wait_until(s3_works, timeout=max(deadline - time.monotonic(), 1), interval=0.5):
            raise RuntimeError(f"S3 through radosgw did not work: {last_error}\n{self.logs()}")

    def _osd_up(self) -> bool:
        self._check_alive()
        return '"num_up_osds":1' in self._run("ceph", "osd", "stat", "-f", "json").replace(" ", "")

    def rss_kib(self) -> dict[str, int]:
        """Resident set size of each daemon, in KiB."""
        out = {}
        for name, daemon in self.daemons.items():
            try:
                for line in Path(f"/proc/{daemon.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[name] = int(line.split()[1])
            except FileNotFoundError:
                pass
        return out

    def stop(self) -> None:
        try:
            for name in ("rgw", "osd.0", "mon.a"):
                if name in self.daemons:
                    self.daemons[name].stop(timeout=10)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@dataclass(frozen=True)
class S3Storage:
    """Where `berth serve` keeps its blobs in the cluster: its flags and environment (boto3's
    usual variables carry the gateway's throwaway credentials), and what is in the bucket."""
    ceph: CephCluster
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def args(self) -> tuple[str, ...]:
        return ("--storage", self.url, "--s3-endpoint-url", self.ceph.endpoint_url)

    def env(self) -> dict[str, str]:
        return self.ceph.env()

    def blob(self, digest: str, key_ref: str = "") -> bytes | None:
        """A committed blob's stored bytes (under a key ref: sealed by Berth), read from the
        bucket directly; None if absent."""
        algorithm, hexpart = digest.split(":")
        ref = f"{key_ref}/" if key_ref else ""
        key = f"{self.prefix}/data/{ref}{algorithm}/{hexpart[:2]}/{hexpart}"
        try:
            return self.ceph.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.ceph.client().exceptions.NoSuchKey:
            return None

    def keys(self, folder: str = "data/") -> list[str]:
        """Every object key under ``<prefix>/<folder>`` (committed blobs by default)."""
        pages = self.ceph.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/{folder}")
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def uploads(self) -> tuple[list[str], list[str]]:
        """(objects, multipart uploads) under the uploads folder: what uploads left behind."""
        s3, prefix = self.ceph.client(), f"{self.prefix}/uploads/"
        objects = s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        mpus = s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])
        return [o["Key"] for o in objects], [u["Key"] for u in mpus]
