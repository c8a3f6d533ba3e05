"""S3 for the s3 setups: a throwaway Ceph RADOS gateway (tests/support/ceph.py's cluster: one
monitor, one OSD, radosgw on 127.0.0.1; needs Debian's ceph-mon, ceph-osd and radosgw).

One cluster per benchmark invocation; every server start gets a fresh bucket, deleted with its
objects once the server stopped, and radosgw's garbage collector is run at once (it would
keep deleted data for hours and fill the OSD over a full run)."""
from __future__ import annotations

import subprocess

REGION = "us-east-1"

DISTRIBUTION_S3 = """\
  s3:
    region: {region}
    regionendpoint: {endpoint}
    bucket: {bucket}
    accesskey: {access_key}
    secretkey: {secret_key}
    secure: false
    v4auth: true
    rootdirectory: /distribution
  redirect:
    disable: {disable}"""


class S3Backend:
    def __init__(self):
        from tests.support.ceph import CephCluster  # boto3: only where S3 is used

        self.cluster = CephCluster()

    def start(self) -> "S3Backend":
        self.cluster.start()
        return self

    def stop(self) -> None:
        self.cluster.stop()

    @property
    def endpoint_url(self) -> str:
        return self.cluster.endpoint_url

    def env(self) -> dict[str, str]:
        """boto3's variables for a Berth that stores in this gateway."""
        return self.cluster.env()

    def pids(self) -> list[int]:
        return [d.pid for d in self.cluster.daemons.values()]

    def new_bucket(self) -> str:
        return self.cluster.create_bucket()

    def drop_bucket(self, bucket: str) -> None:
        s3 = self.cluster.client()
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        self._admin("bucket", "rm", f"--bucket={bucket}", "--purge-objects", "--bypass-gc")
        # What the servers deleted themselves (finished uploads) waits in the collector.
        self._admin("gc", "process", "--include-all")

    def _admin(self, *args: str) -> None:
        subprocess.run(["radosgw-admin", "-c", str(self.cluster.conf), "-n", "client.admin",
                        *args], check=True, capture_output=True, timeout=600,
                       stdin=subprocess.DEVNULL)

    def distribution_storage(self, bucket: str, redirect: bool) -> str:
        """Distribution's `storage:` section for its s3 driver on `bucket`."""
        return DISTRIBUTION_S3.format(
            region=REGION, endpoint=self.endpoint_url, bucket=bucket,
            access_key=self.cluster.access_key, secret_key=self.cluster.secret_key,
            disable="false" if redirect else "true")

    def berth_args(self, bucket: str) -> list[str]:
        return ["--storage", f"s3://{bucket}/berth", "--s3-endpoint-url", self.endpoint_url,
                "--s3-region", REGION]
