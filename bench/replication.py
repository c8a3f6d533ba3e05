"""Replication lag: from a push acknowledged (the manifest PUT's 201) to the image pullable at
the destination (its manifest answering 200 there), on a real `berth serve` with its jobs on
the defaults (events delivered and jobs polled every second). The destination is the
administrator's registry in another region: --images small images (1-64 KiB layers, over 4
repositories, pushed one after another), then one image of a --big-mib layer twice, into a
destination repository sealing with the same key (the blobs are linked) and one made with a
KMS key first (the bytes are copied). Each lag is printed beside the push it follows.

    .venv/bin/python -m bench.replication [--images 100] [--big-mib 1024]"""
from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.oci import (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, blob_chunks,  # noqa: E402
                       blob_digest, image_config, image_manifest, sha256_digest, small_layer)
from bench.servers import Berth  # noqa: E402

EAST, WEST = "us-east-1", "eu-west-1"


class Watch:
    """Polls the destination for pushed manifests; records when each first answers 200."""

    def __init__(self, base: str, session: requests.Session):
        self.base, self.session = base, session
        self.pending: dict[str, float] = {}  # path -> acknowledged at
        self.lags: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def expect(self, path: str, acknowledged: float) -> None:
        with self.lock:
            self.pending[path] = acknowledged

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                paths = list(self.pending)
            for path in paths:
                if self.session.head(self.base + path, timeout=30).status_code == 200:
                    seen = time.perf_counter()
                    with self.lock:
                        self.lags[path] = seen - self.pending.pop(path)
            time.sleep(0.01)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
            time.sleep(0.05)
        return False


def _session(ecr) -> requests.Session:
    data = ecr.get_authorization_token()["authorizationData"][0]
    session = requests.Session()
    session.trust_env = False
    session.auth = tuple(base64.b64decode(data["authorizationToken"]).decode().split(":", 1))
    return session


def _push_small(session, base: str, repo: str, tag: str, n: int, size: int) -> float:
    layer = small_layer(n, size)
    config = image_config(sha256_digest(layer), n)
    for blob in (layer, config):
        r = session.post(f"{base}/v2/{repo}/blobs/uploads/?digest={sha256_digest(blob)}",
                         data=blob, timeout=60)
        r.raise_for_status()
    r = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=image_manifest(config, [layer]),
                    headers={"Content-Type": OCI_MANIFEST}, timeout=60)
    r.raise_for_status()
    return time.perf_counter()


def _push_big(session, base: str, repo: str, size: int, seed: int) -> tuple[float, float]:
    """(push seconds, acknowledged at)."""
    started = time.perf_counter()
    digest = blob_digest(size, seed)
    r = session.post(f"{base}/v2/{repo}/blobs/uploads/?digest={digest}",
                     data=_Body(size, seed), timeout=600)
    if r.status_code != 201:
        raise RuntimeError(f"{r.status_code}: {r.text}")
    config = image_config(digest, seed)
    r = session.post(f"{base}/v2/{repo}/blobs/uploads/?digest={sha256_digest(config)}",
                     data=config, timeout=60)
    r.raise_for_status()
    manifest = (b'{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s",'
                b'"size":%d},"layers":[{"mediaType":"%s","digest":"%s","size":%d}]}' % (
                    OCI_MANIFEST.encode(), OCI_CONFIG.encode(),
                    sha256_digest(config).encode(), len(config), OCI_LAYER.encode(),
                    digest.encode(), size))
    r = session.put(f"{base}/v2/{repo}/manifests/v1", data=manifest,
                    headers={"Content-Type": OCI_MANIFEST}, timeout=60)
    r.raise_for_status()
    acknowledged = time.perf_counter()
    return acknowledged - started, acknowledged


class _Body:
    """The blob as a file-like body of known length (sent with Content-Length)."""

    def __init__(self, size: int, seed: int):
        self.chunks, self.size = blob_chunks(size, seed), size
        self.chunk, self.at = b"", 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        if self.at == len(self.chunk):
            self.chunk, self.at = bytes(next(self.chunks, b"")), 0
        end = len(self.chunk) if n < 0 else min(len(self.chunk), self.at + n)
        out, self.at = self.chunk[self.at:end], end
        return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def run(args, workdir: Path) -> None:
    server = Berth(workdir)
    server.start()
    try:
        key, secret = server.signing_credentials()
        clients = {region: boto3.client("ecr", region_name=region, endpoint_url=server.base_url,
                                        aws_access_key_id=key, aws_secret_access_key=secret)
                   for region in (EAST, WEST)}
        account = clients[EAST].describe_registry()["registryId"]
        clients[EAST].put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [{"region": WEST, "registryId": account}]}]})
        clients[WEST].create_repository(repositoryName="lag/big-kms",
                                        encryptionConfiguration={"encryptionType": "KMS"})
        east, base = _session(clients[EAST]), server.base_url
        watch = Watch(base, _session(clients[WEST]))
        rng, push_times = random.Random(7), []
        for n in range(args.images):
            started = time.perf_counter()
            repo, tag = f"lag/small-{n % 4}", f"t{n}"
            acknowledged = _push_small(east, base, repo, tag, n, rng.randint(1, 64) * 1024)
            push_times.append(acknowledged - started)
            watch.expect(f"/v2/{repo}/manifests/{tag}", acknowledged)
        assert watch.wait(120), f"{len(watch.pending)} images never arrived"
        lags = sorted(watch.lags.values())
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(f"{args.images} small images: push {_ms(statistics.median(push_times))} each "
              f"(median); replication lag p50 {_ms(statistics.median(lags))}, p99 {_ms(p99)}, "
              f"max {_ms(lags[-1])}")
        for repo, how in (("lag/big", "same key: linked"), ("lag/big-kms", "KMS: copied")):
            pushed, acknowledged = _push_big(east, base, repo, args.big_mib << 20,
                                             hash(repo) & 0xFFFF)
            watch.expect(f"/v2/{repo}/manifests/v1", acknowledged)
            assert watch.wait(900), f"{repo} never arrived"
            lag = watch.lags[f"/v2/{repo}/manifests/v1"]
            print(f"one {args.big_mib} MiB image ({how}): push {pushed:.1f} s "
                  f"({args.big_mib / pushed:,.0f} MiB/s); replication lag {lag:.1f} s")
        watch.stop.set()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--big-mib", type=int, default=1024)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="berth-bench-replication-") as workdir:
        run(args, Path(workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
