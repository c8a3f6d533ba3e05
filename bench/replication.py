"""Replication lag: from a push acknowledged (the manifest PUT's 201) to the image pullable at
the destination (its manifest answering 200 there), on a real `berth serve` with its jobs on
the defaults (events delivered and jobs polled every second). Two kinds of destination:

  region  the administrator's registry in another region of the same deployment;
  site    another Berth deployment (a second `berth serve`, its own data dir and database, on
          this machine), joined as the README says: its administrator key as a sealed secret
          (`berth admin secrets put`), `berth admin replication-sites put`, a rule naming it.

By default both, side by side, in the same run: one rule lists both destinations, so every push
fans out to both and each lag is measured from the same acknowledgment (the machine state is
the same for both; the copies of the two kinds share the source's job slots, as they would for
a registry replicating to both). --region or --site measures one alone.

Workloads: --images small images (1-64 KiB layers, over 4 repositories, pushed one after
another), then one image of a --big-mib layer twice, into a destination repository made by the
copy with the defaults (in the other region the blobs are linked: same key; a site is sent
them) and one made with a KMS key first (the bytes are copied, or sent and sealed there).
Printed as a Markdown table: lag p50/p99/max of the small images and each big image's lag per
destination, with the push times and the load average before and after.

    .venv/bin/python -m bench.replication [--images 100] [--big-mib 1024] [--region | --site]"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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


def _push_big(session, base: str, repo: str, size: int, seed: int) -> tuple[float, float, str]:
    """(push seconds, acknowledged at, the layer's digest)."""
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
    return acknowledged - started, acknowledged, digest


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


def _client(server: Berth, region: str):
    key, secret = server.signing_credentials()
    return boto3.client("ecr", region_name=region, endpoint_url=server.base_url,
                        aws_access_key_id=key, aws_secret_access_key=secret)


@dataclass
class Destination:
    """One replication destination: where it is, how a big image gets there, what it saw."""

    label: str
    rule: dict                # its entry in the replication rule
    client: object            # ECR client of the destination registry
    base: str                 # its registry's URL
    big_how: dict             # big repository -> how the bytes get there
    watch: Watch | None = None
    small: list[float] = field(default_factory=list)
    big: dict = field(default_factory=dict)  # big repository -> lag seconds


def _other_region(source: Berth, account: str) -> Destination:
    return Destination("other region (same deployment)", {"region": WEST, "registryId": account},
                       _client(source, WEST), source.base_url,
                       {"lag/big": "same key: linked", "lag/big-kms": "KMS: copied"})


def _site(source: Berth, site: Berth, account: str, workdir: Path) -> Destination:
    """The site joined to the source as README.md's Replication section says: the site's
    administrator key as a sealed secret of the source's account, then the site by its
    account id, endpoint and that secret's ARN (both with `berth admin`, online)."""
    client = _client(site, EAST)
    site_account = client.describe_registry()["registryId"]
    key_id, key = site.signing_credentials()
    secret = workdir / "site.json"
    secret.write_text(json.dumps({"accessKeyId": key_id, "secretAccessKey": key}))
    try:
        arn = _admin(source, "secrets", "put", "replication/site-b", "--secret-file",
                     str(secret), "--account", account)["Secret"]["ARN"]
    finally:
        secret.unlink()
    _admin(source, "replication-sites", "put", site_account, "--account", account,
           "--endpoint", site.base_url, "--secret-arn", arn)
    return Destination("site (another deployment)", {"region": EAST, "registryId": site_account},
                       client, site.base_url,
                       {"lag/big": "sent over HTTP", "lag/big-kms": "sent, sealed with KMS"})


def _admin(server: Berth, *args: str) -> dict:
    """`berth admin ARGS` online, signed with the server's administrator key; its JSON."""
    key_id, key = server.signing_credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))} | {
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": key, "AWS_DEFAULT_REGION": EAST,
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run([server.python, "-m", "berth", "admin", *args, "--endpoint-url",
                           server.base_url], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"berth admin {' '.join(args[:2])} failed: {done.stderr}")
    return json.loads(done.stdout)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _push_all(args, east, base: str, dests: list[Destination]) -> dict:
    """The workloads, each push expected at every destination; push times."""
    rng, push_times = random.Random(7), []
    for n in range(args.images):
        started = time.perf_counter()
        repo, tag = f"lag/small-{n % 4}", f"t{n}"
        acknowledged = _push_small(east, base, repo, tag, n, rng.randint(1, 64) * 1024)
        push_times.append(acknowledged - started)
        for d in dests:
            d.watch.expect(f"/v2/{repo}/manifests/{tag}", acknowledged)
    timeout = max(120.0, 3.0 * args.images)
    for d in dests:
        assert d.watch.wait(timeout), f"{d.label}: {len(d.watch.pending)} images never arrived"
        d.small = list(d.watch.lags.values())
    big_push = {}
    for seed, repo in enumerate(("lag/big", "lag/big-kms"), 1):
        big_push[repo], acknowledged, digest = _push_big(east, base, repo, args.big_mib << 20,
                                                         seed)
        path = f"/v2/{repo}/manifests/v1"
        for d in dests:
            d.watch.expect(path, acknowledged)
        for d in dests:
            assert d.watch.wait(900), f"{d.label}: {repo} never arrived"
            d.big[repo] = d.watch.lags[path]
        for d in dests:  # after the clock: the layer is there, whole
            held = d.watch.session.head(f"{d.base}/v2/{repo}/blobs/{digest}", timeout=30)
            assert held.status_code == 200 and \
                int(held.headers["Content-Length"]) == args.big_mib << 20, \
                f"{d.label}: {repo}'s layer {held.status_code} {held.headers}"
    return {"small": statistics.median(push_times), "big": big_push}


def _table(args, dests: list[Destination], pushed: dict, load: tuple[str, str]) -> str:
    rows = [f"| | {' | '.join(d.label for d in dests)} |",
            f"|---|{'---:|' * len(dests)}"]

    def row(label: str, cell) -> None:
        rows.append(f"| {label} | {' | '.join(cell(d) for d in dests)} |")

    n = args.images
    row(f"{n} small images: lag p50", lambda d: _ms(statistics.median(d.small)))
    row(f"{n} small images: lag p99", lambda d: _ms(_p99(d.small)))
    row(f"{n} small images: lag max", lambda d: _ms(max(d.small)))
    for repo, what in (("lag/big", "destination repo made by the copy"),
                       ("lag/big-kms", "destination repo made with KMS first")):
        row(f"one {args.big_mib} MiB image ({what}): lag",
            lambda d, repo=repo: f"{d.big[repo]:.1f} s ({d.big_how[repo]})")
    big = ", ".join(f"{s:.1f} s ({args.big_mib / s:,.0f} MiB/s)" for s in pushed["big"].values())
    rows += ["", (f"Push (the source, acknowledged): small image {_ms(pushed['small'])} each "
                  f"(median); {args.big_mib} MiB image {big}."),
             (f"Load average (1/5/15 min) on {os.cpu_count()} CPUs: before {load[0]}, "
              f"after {load[1]}.")]
    if len(dests) > 1:
        rows.append("Both destinations in one rule: each push fans out to both; lags from the "
                    "same acknowledgment, the copies sharing the source's job slots.")
    return "\n".join(rows)


def run(args, workdir: Path) -> None:
    source = Berth(workdir)
    site = Berth(workdir) if args.kinds != {"region"} else None
    servers = [s for s in (source, site) if s is not None]
    try:
        for server in servers:
            server.start()
        clients = {EAST: _client(source, EAST)}
        account = clients[EAST].describe_registry()["registryId"]
        dests = []
        if "region" in args.kinds:
            dests.append(_other_region(source, account))
        if site is not None:
            dests.append(_site(source, site, account, workdir))
        clients[EAST].put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [d.rule for d in dests]}]})
        for d in dests:
            d.client.create_repository(repositoryName="lag/big-kms",
                                       encryptionConfiguration={"encryptionType": "KMS"})
            d.watch = Watch(d.base, _session(d.client))
        load_before = _load()
        pushed = _push_all(args, _session(clients[EAST]), source.base_url, dests)
        load_after = _load()
        for d in dests:
            d.watch.stop.set()
        print(_table(args, dests, pushed, (load_before, load_after)))
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--big-mib", type=int, default=1024)
    only = p.add_mutually_exclusive_group()
    only.add_argument("--region", action="store_true",
                      help="only the other region of the same deployment")
    only.add_argument("--site", action="store_true",
                      help="only another Berth deployment (a site)")
    args = p.parse_args(argv)
    args.kinds = {"region"} if args.region else {"site"} if args.site else {"region", "site"}
    with tempfile.TemporaryDirectory(prefix="berth-bench-replication-") as workdir:
        run(args, Path(workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
