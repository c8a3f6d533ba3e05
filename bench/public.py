"""Public repositories (ECR Public) and the web pages, on a real `berth serve --public-port`
(its defaults otherwise): manifest GETs of one image at --concurrency through the private
gate (a registry token, Berth's own baseline) and through the public one (anonymous, then
with the token), the public pull rates off so that the gate itself is measured; then the
latency of the gallery's pages (search, repository) and of the console's repositories page,
one request at a time.

    .venv/bin/python -m bench.public [--duration 10] [--runs 2] [--concurrency 64]

Output: a Markdown table on stdout and in bench/results/<timestamp>-public.md."""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import httpc, loadgen  # noqa: E402
from bench.httpc import AsyncConn  # noqa: E402
from bench.oci import ACCEPT_MANIFESTS  # noqa: E402
from bench.report import publish  # noqa: E402
from bench.servers import Berth, free_port  # noqa: E402
from bench.workloads.push import push_small_image  # noqa: E402

PAGE_REQUESTS = 200


def public_client(server: Berth):
    import boto3

    key, secret = server.signing_credentials()
    return boto3.client("ecr-public", region_name="us-east-1", endpoint_url=server.base_url,
                        aws_access_key_id=key, aws_secret_access_key=secret)


async def _push(port: int, repo: str) -> None:
    conn = AsyncConn("127.0.0.1", port, None)
    try:
        await push_small_image(conn, repo, "latest", 7, 4096, "post")
    finally:
        await conn.close()


def _gets(port: int, path: str, args, token: str | None) -> dict:
    httpc.DEFAULT_HEADERS.clear()
    if token:
        httpc.DEFAULT_HEADERS["Authorization"] = token
    found = loadgen.load("127.0.0.1", port, "GET", path, {"Accept": ACCEPT_MANIFESTS},
                         args.concurrency, 1.0, args.duration)
    total = found["requests"] + found["errors"]
    if total == 0 or found["errors"] > 0.01 * total:
        raise AssertionError(f"GET {path} on {port}: {found['errors']} errors of {total} "
                             f"({found['error_kinds']})")
    return found


def _page_times(url: str, session=None) -> list[float]:
    import requests

    http = session or requests.Session()
    times = []
    for _ in range(PAGE_REQUESTS):
        started = time.perf_counter()
        answer = http.get(url, timeout=30, allow_redirects=False)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (url, answer.status_code)
    return times


def _console(server: Berth):
    """A signed-in browser's session (requests), as the console's forms sign in."""
    import requests

    key, secret = server.signing_credentials()
    http = requests.Session()
    form = http.get(f"{server.base_url}/console/sign-in", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    signed = http.post(f"{server.base_url}/console/sign-in", allow_redirects=False, timeout=30,
                       headers={"Origin": server.base_url},
                       data={"csrf": csrf, "next": "", "access_key_id": key,
                             "secret_access_key": secret})
    assert signed.status_code == 303, signed.text
    return http


def one_run(workdir: Path, args) -> dict:
    public_port = free_port()
    server = Berth(workdir, extra_args=["--public-port", str(public_port)],
                   env={"BERTH_PUBLIC_PULLS_ANONYMOUS": "0",
                        "BERTH_PUBLIC_PULLS_AUTHENTICATED": "0"})
    server.start()
    try:
        token = server.authorization()
        httpc.DEFAULT_HEADERS["Authorization"] = token
        asyncio.run(_push(server.port, "bench/app"))
        client = public_client(server)
        client.create_repository(repositoryName="bench/app", catalogData={
            "description": "A benchmark's image", "aboutText": "# About\n\n" + "text " * 500})
        alias = client.describe_registries()["registries"][0]["aliases"][0]["name"]
        asyncio.run(_push(public_port, f"{alias}/bench/app"))
        path = "/v2/{}/manifests/latest"
        gallery = f"http://127.0.0.1:{server.port}/gallery"
        return {
            "private": _gets(server.port, path.format("bench/app"), args, token),
            "anonymous": _gets(public_port, path.format(f"{alias}/bench/app"), args, None),
            "signed": _gets(public_port, path.format(f"{alias}/bench/app"), args, token),
            "gallery_search": _page_times(f"{gallery}?q=bench"),
            "gallery_repository": _page_times(f"{gallery}/{alias}/bench/app"),
            "console": _page_times(f"{server.base_url}/console/repositories",
                                   _console(server)),
        }
    finally:
        httpc.DEFAULT_HEADERS.clear()
        server.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def table(results: list[dict], args) -> str:
    def rate(key: str) -> float:
        return sum(r[key]["req_s"] for r in results) / len(results)

    def p99(key: str) -> float:
        return max(r[key]["p99_ms"] for r in results)

    def pages(key: str) -> list[float]:
        return [v for r in results for v in r[key]]
    base = rate("private")
    rows = [(f"manifest GET c{args.concurrency}, private, token (req/s; p99 ms)",
             f"{base:,.0f}; {p99('private'):.0f}", "1.00× (the baseline)")]
    for key, label in (("anonymous", "public, anonymous"), ("signed", "public, token")):
        rows.append((f"manifest GET c{args.concurrency}, {label} (req/s; p99 ms)",
                     f"{rate(key):,.0f}; {p99(key):.0f}", f"{rate(key) / base:.2f}×"))
    for key, label in (("gallery_search", "gallery search page"),
                       ("gallery_repository", "gallery repository page"),
                       ("console", "console repositories page")):
        found = pages(key)
        rows.append((f"{label}, one at a time (ms, p50; p99)",
                     f"{pct(found, .5) * 1000:.1f}; {pct(found, .99) * 1000:.1f}", ""))
    head = (f"Public repositories and web pages, {args.runs} run(s), {args.duration:g} s "
            f"windows, defaults + --public-port (pull rates off)\n\n"
            "| figure | Berth | vs private |\n|---|---:|---:|\n")
    return head + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-public-") as workdir:
            results.append(one_run(Path(workdir), args))
    text = table(results, args)
    publish(text, "public")
    return 0


if __name__ == "__main__":
    sys.exit(main())
