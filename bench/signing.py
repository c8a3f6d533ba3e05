"""Managed signing on a real `berth serve` (its defaults: filesystem, SQLite, jobs on):
--images small images pushed one after another over the registry API to a repository a
signing rule matches, then as many to a repository none matches (Berth's own baseline: the
same pushes without signing), alternating the order per run. Measured: push time per image
with and without signing (what signing costs a push: it never waits for it), and the
signing latency of each signed image -- from its manifest's push to its COMPLETE status, as
the server recorded both (manifests.pushed_at, image_signing.updated_at), so no polling skews
it; then the time to verify one image's signatures through the admin API
(VerifyImageSignatures, Notation trust policy, --verifies calls) and in-process (the same
verifier, no HTTP).

    .venv/bin/python -m bench.signing [--images 100] [--runs 2] [--verifies 50]

Output: a Markdown table on stdout and in bench/results/<timestamp>-signing.md."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import httpc  # noqa: E402
from bench.httpc import AsyncConn  # noqa: E402
from bench.report import publish  # noqa: E402
from bench.servers import Berth  # noqa: E402
from bench.workloads.push import push_small_image  # noqa: E402

BERTH = [sys.executable, "-m", "berth"]


def admin(server: Berth, *args: str) -> dict:
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(server.dir / "data" /
                                                             "admin-credentials"),
           "AWS_PROFILE": "berth-admin", "AWS_CONFIG_FILE": "/dev/null"}
    out = subprocess.run([*BERTH, "admin", *args, "--endpoint-url", server.base_url], env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def ecr(server: Berth):
    import boto3

    key, secret = server.signing_credentials()
    return boto3.client("ecr", region_name="us-east-1", endpoint_url=server.base_url,
                        aws_access_key_id=key, aws_secret_access_key=secret)


async def push(server: Berth, repo: str, count: int, seed: int) -> list[float]:
    conn = AsyncConn("127.0.0.1", server.port, None)
    times = []
    try:
        for n in range(count):
            started = time.perf_counter()
            await push_small_image(conn, repo, f"v{n}", seed * 1_000_000 + n, 4096, "post")
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return times


def latencies(server: Berth, repo: str, count: int, timeout: float = 300) -> list[float]:
    """Push-to-COMPLETE of every image of the repository, once all are COMPLETE."""
    db = server.dir / "data" / "metadata.db"
    query = ("SELECT s.status, s.updated_at - m.pushed_at FROM image_signing s JOIN manifests m "
             "ON m.repository_id = s.repository_id AND m.digest = s.digest JOIN repositories r "
             "ON r.id = m.repository_id WHERE r.name = ?")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(query, (repo,)).fetchall()
        if len(rows) == count and all(status == "COMPLETE" for status, _ in rows):
            return [delay for _, delay in rows]
        if any(status == "FAILED" for status, _ in rows):
            raise RuntimeError(f"signing failed: {rows[:3]}")
        time.sleep(0.2)
    raise RuntimeError(f"signing did not complete in {timeout}s: {len(rows)} rows")


def verify_times(server: Berth, account: str, repo: str, calls: int) -> list[float]:
    from berth.cli.admin_client import AdminClient

    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(server.dir / "data" / "admin-credentials")
    client = AdminClient(server.base_url, "berth-admin")
    trust = client.call("GetSigningTrust", {"AccountId": account})
    params = {"RepositoryName": repo, "ImageTag": "v0",
              "TrustPolicy": json.dumps(trust["TrustPolicy"])}
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        verdict = client.call("VerifyImageSignatures", params)["Verdict"]
        times.append(time.perf_counter() - started)
        assert verdict["verified"], verdict
    return times


def in_process_times(server: Berth, account: str, repo: str, calls: int) -> list[float]:
    from berth.app import open_registry
    from berth.config import Settings
    from berth.signing.images import ImageSignatures
    from berth.signing.profiles import ProfileService
    from berth.signing.trust import export
    from berth.signing.trust_policy import parse as policies

    registry, iam = open_registry(Settings(data_dir=server.dir / "data"))
    try:
        profiles = ProfileService(registry.db, iam.identities.master)
        signatures = ImageSignatures(registry, profiles)
        policy = policies(json.dumps(export(profiles, account)["TrustPolicy"]))
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            verdict = signatures.verify(repo, "v0", repo, policy,
                                        signatures.trust(account, {}))
            times.append(time.perf_counter() - started)
            assert verdict.verified
        return times
    finally:
        registry.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def one_run(workdir: Path, args, run: int) -> dict:
    server = Berth(workdir)
    server.start()
    try:
        httpc.DEFAULT_HEADERS["Authorization"] = server.authorization()
        account = admin(server, "accounts", "list")["Accounts"][0]["AccountId"]
        arn = admin(server, "signing-profiles", "create", "bench", "--account",
                    account)["Profile"]["ProfileArn"]
        ecr(server).put_signing_configuration(signingConfiguration={"rules": [{
            "signingProfileArn": arn,
            "repositoryFilters": [{"filter": "signed/*", "filterType": "WILDCARD_MATCH"}]}]})
        order = [("signed/app", True), ("plain/app", False)]
        if run % 2:
            order.reverse()
        pushes = {}
        for repo, _ in order:
            pushes[repo] = asyncio.run(push(server, repo, args.images, run * 2 + len(pushes)))
        signed = latencies(server, "signed/app", args.images)
        return {"push_signed": pushes["signed/app"], "push_plain": pushes["plain/app"],
                "latency": signed,
                "verify_api": verify_times(server, account, "signed/app", args.verifies),
                "verify_local": in_process_times(server, account, "signed/app",
                                                 args.verifies)}
    finally:
        server.stop()


def table(results: list[dict], args) -> str:
    def join(key: str) -> list[float]:
        return [v for r in results for v in r[key]]
    signed, plain = join("push_signed"), join("push_plain")
    latency, api, local = join("latency"), join("verify_api"), join("verify_local")
    ms = lambda v: f"{v * 1000:,.1f}"  # noqa: E731
    rows = [
        ("push one small image, signing rule (ms, p50)", ms(pct(signed, .5)),
         f"{pct(signed, .5) / pct(plain, .5):.2f}× the push without a rule ({ms(pct(plain, .5))})"),
        ("signing latency after push, p50 (ms)", ms(pct(latency, .5)), ""),
        ("signing latency after push, p99 (ms)", ms(pct(latency, .99)),
         f"max {ms(max(latency))}"),
        ("verify an image, admin API (ms, p50)", ms(pct(api, .5)), f"p99 {ms(pct(api, .99))}"),
        ("verify an image, in-process (ms, p50)", ms(pct(local, .5)),
         f"p99 {ms(pct(local, .99))}"),
    ]
    head = (f"Managed signing, {args.runs} run(s) × {args.images} images "
            f"(4 KiB layer each), defaults; {len(latency)} signatures\n\n"
            "| figure | Berth | note |\n|---|---:|---|\n")
    return head + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--verifies", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as workdir:
        results = [one_run(Path(workdir), args, run) for run in range(args.runs)]
    text = table(results, args)
    publish(text, "signing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
