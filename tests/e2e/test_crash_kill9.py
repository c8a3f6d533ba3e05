"""kill -9 of the whole server (every process of it, at once) at random moments while many
clients push small random images, several rounds: after each restart every acknowledged
manifest is read back byte for byte (by digest, and by the tag it was pushed with) and every
acknowledged blob is read back and re-hashed. After the last round an offline ``berth admin
gc`` with no grace period removes every stored file and every upload file no row knows (what
the crashes left, issue 20 item 5), and every acknowledged image is still whole.

Acknowledged means the client read the registry's 201; a request the kill cut off may or may
not have happened, and is never checked. Any other failure while the server is up (an error
status, a reset) fails the test."""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from berth.gc.collector import parse_key
from tests.support.berth_node import BerthNode
from tests.support.gc import berth_admin, clean_env, plant_orphans, settings_flags
from tests.support.oci_push import OCI_MANIFEST, digest_of, image_manifest
from tests.support.ports import wait_until

pytestmark = pytest.mark.e2e

PUSHERS = 40
ROUNDS = 5
REPOSITORIES = 12               # pushers share them (and their layers)
KILL_AFTER = (0.8, 3.0)         # seconds of pushing before each kill, drawn at random
CHECKERS = 8                    # client threads reading back after a restart
TIMEOUT = 30                    # per request; a kill is noticed at once (refused/reset)
SMALL = 1024 * 1024             # above this a monolithic upload is streamed, not put whole
# Layers several pushers push into several repositories (deduplicated, mounted, skipped).
SHARED_LAYERS = [os.urandom(size) for size in (700, 3000, 40_000, 300_000, SMALL + 4096)]
# Hostile-client limits (uploads in flight per principal and address): not what this tests.
ENV = {"BERTH_UPLOADS_PER_PRINCIPAL": "1024", "BERTH_UPLOADS_PER_ADDRESS": "1024",
       "BERTH_WORKERS": "2"}


class Killed(Exception):
    """A request failed because the server was being killed: nothing was acknowledged."""


@dataclass(frozen=True)
class Image:
    repo: str
    tag: str | None           # None: pushed by digest
    digest: str
    manifest: bytes
    blobs: tuple[tuple[str, int], ...]  # (digest, size) of config and layers


@dataclass
class Ledger:
    """What the server acknowledged, and what went wrong while it was up."""
    images: list[Image] = field(default_factory=list)
    blobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (repo, digest) -> size
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def blob(self, repo: str, digest: str, size: int) -> None:
        with self.lock:
            self.blobs[(repo, digest)] = size

    def repos_with(self, digest: str) -> list[str]:
        with self.lock:
            return [repo for (repo, d) in self.blobs if d == digest]


class Client:
    """One pusher's HTTP: every answer other than the expected one is an error, unless the
    server is being killed (then nothing it says counts)."""

    def __init__(self, node: BerthNode, killing: threading.Event, ledger: Ledger):
        self.base = node.url
        self.session = node.session()
        self.killing = killing
        self.ledger = ledger

    def call(self, method: str, url: str, expect: tuple[int, ...], **kwargs) -> requests.Response:
        url = urljoin(self.base, url)
        for attempt in range(20):
            try:
                r = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:
                if self.killing.is_set():
                    raise Killed() from None
                raise AssertionError(f"{method} {url}: {exc!r} while the server was up") from exc
            if r.status_code == 429:  # a limit on uploads in flight: back off, as clients do
                time.sleep(0.05 * (attempt + 1))
                continue
            if r.status_code in expect:
                return r
            if self.killing.is_set():
                raise Killed()
            raise AssertionError(f"{method} {url}: {r.status_code} {r.text[:300]}")
        raise AssertionError(f"{method} {url}: still 429 after 20 attempts")


def _pusher(node: BerthNode, index: int, seed: int, ledger: Ledger, killing: threading.Event):
    rng = random.Random(seed)
    client = Client(node, killing, ledger)
    n = 0
    try:
        while not killing.is_set():
            n += 1
            repo = f"crash/r{rng.randrange(REPOSITORIES)}"
            layers = [_layer(rng) for _ in range(rng.randint(1, 3))]
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "pusher": seed, "n": n}).encode()
            for blob in (config, *layers):
                _push_blob(client, rng, repo, blob)
            # Compared byte for byte later: formatted in different ways, as clients do.
            manifest = _manifest(config, layers, rng.choice((None, 2)))
            digest = digest_of(manifest)
            tag = f"p{index}-s{seed}-{n}" if rng.random() < 0.8 else None
            r = client.call("PUT", f"/v2/{repo}/manifests/{tag or digest}", (201,),
                            data=manifest, headers={"Content-Type": OCI_MANIFEST})
            assert r.headers.get("Docker-Content-Digest") == digest, r.headers
            with ledger.lock:
                ledger.images.append(Image(repo, tag, digest, manifest, tuple(
                    (digest_of(b), len(b)) for b in (config, *layers))))
    except Killed:
        return
    except Exception as exc:  # noqa: BLE001 -- reported by the test, with its context
        with ledger.lock:
            ledger.errors.append(f"pusher {seed}: {exc}")


def _layer(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(SHARED_LAYERS)
    if roll < 0.75:
        return os.urandom(rng.randint(1, 16 * 1024))
    if roll < 0.95:
        return os.urandom(rng.randint(16 * 1024, SMALL))
    return os.urandom(rng.randint(SMALL + 1, 2 * SMALL))


def _manifest(config: bytes, layers: list[bytes], indent: int | None) -> bytes:
    return image_manifest(config, layers, indent)


def _push_blob(client: Client, rng: random.Random, repo: str, data: bytes) -> None:
    """One blob, the ways clients push them: HEAD first (skipped if there), a cross-repository
    mount, one monolithic POST, POST then PUT with the body, or PATCH chunks then PUT."""
    digest = digest_of(data)
    blobs = f"/v2/{repo}/blobs"
    if data in SHARED_LAYERS:
        if client.call("HEAD", f"{blobs}/{digest}", (200, 404)).status_code == 200:
            client.ledger.blob(repo, digest, len(data))
            return
        others = [r for r in client.ledger.repos_with(digest) if r != repo]
        if others:
            r = client.call("POST", f"{blobs}/uploads/?mount={digest}&from={rng.choice(others)}",
                            (201, 202))
            if r.status_code == 201:
                client.ledger.blob(repo, digest, len(data))
                return
            client.call("PUT", f"{r.headers['Location']}?digest={digest}", (201,), data=data,
                        headers={"Content-Type": "application/octet-stream"})
            client.ledger.blob(repo, digest, len(data))
            return
    how = rng.random()
    if how < 0.5:
        client.call("POST", f"{blobs}/uploads/?digest={digest}", (201,), data=data,
                    headers={"Content-Type": "application/octet-stream"})
    elif how < 0.7:
        r = client.call("POST", f"{blobs}/uploads/", (202,))
        client.call("PUT", f"{r.headers['Location']}?digest={digest}", (201,), data=data,
                    headers={"Content-Type": "application/octet-stream"})
    else:
        r = client.call("POST", f"{blobs}/uploads/", (202,))
        location = r.headers["Location"]
        step = max(1, len(data) // rng.randint(1, 4) + 1)
        for start in range(0, len(data), step):
            part = data[start:start + step]
            r = client.call("PATCH", location, (202,), data=part, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(part) - 1}"})
            location = r.headers["Location"]
        client.call("PUT", f"{location}?digest={digest}", (201,))
    client.ledger.blob(repo, digest, len(data))


# -- the server's processes ----------------------------------------------------------------
def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def kill9(node: BerthNode) -> int:
    """SIGKILL to every process of the server at once (it runs in a process group of its
    own: the main process and its workers); how many there were."""
    pgid = node.daemon.proc.pid
    processes = _group(pgid)
    os.killpg(pgid, signal.SIGKILL)
    node.daemon.proc.wait(timeout=10)
    assert wait_until(lambda: not _group(pgid), 10), f"survived SIGKILL: {_group(pgid)}"
    node.daemon.stop()
    return len(processes)


# -- reading back ----------------------------------------------------------------------------
def check_acknowledged(node: BerthNode, images: list[Image], blobs: dict) -> list[str]:
    """Every acknowledged manifest, byte for byte, by digest and by tag; every acknowledged
    blob re-hashed. The failures."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = node.session()
        return local.s

    def manifest(image: Image) -> list[str]:
        problems = []
        for ref in filter(None, (image.digest, image.tag)):
            r = session().get(f"{node.url}/v2/{image.repo}/manifests/{ref}", timeout=TIMEOUT,
                              headers={"Accept": OCI_MANIFEST})
            if r.status_code != 200:
                problems.append(f"manifest {image.repo}:{ref}: {r.status_code} {r.text[:200]}")
            elif r.content != image.manifest:
                problems.append(f"manifest {image.repo}:{ref}: other bytes ({len(r.content)})")
            elif r.headers.get("Docker-Content-Digest") != image.digest:
                problems.append(f"manifest {image.repo}:{ref}: digest header "
                                f"{r.headers.get('Docker-Content-Digest')}")
        return problems

    def blob(item) -> list[str]:
        (repo, digest), size = item
        r = session().get(f"{node.url}/v2/{repo}/blobs/{digest}", timeout=TIMEOUT)
        if r.status_code != 200:
            return [f"blob {repo}@{digest}: {r.status_code} {r.text[:200]}"]
        got = "sha256:" + hashlib.sha256(r.content).hexdigest()
        if got != digest or len(r.content) != size:
            return [f"blob {repo}@{digest}: {len(r.content)} bytes hashing to {got}"]
        return []

    with ThreadPoolExecutor(CHECKERS) as pool:
        results = [*pool.map(manifest, images), *pool.map(blob, blobs.items())]
    return [p for problems in results for p in problems]


def image_blobs(images: list[Image]) -> dict[tuple[str, str], int]:
    return {(i.repo, d): size for i in images for d, size in i.blobs}


# -- what the storage holds that no row knows ------------------------------------------------
@dataclass
class Census:
    files: int            # stored blob files
    unknown_files: list   # ... that no object row knows
    rows_without_file: int
    unlinked_rows: int    # object rows no link names (garbage a sweep frees)
    upload_files: int     # entries of the uploads folder
    unknown_uploads: list # ... that no upload row knows
    upload_rows: int

    def line(self) -> str:
        return (f"files {self.files} (no row: {len(self.unknown_files)}), object rows without "
                f"file {self.rows_without_file}, unlinked object rows {self.unlinked_rows}, "
                f"upload files {self.upload_files} (no row: {len(self.unknown_uploads)}, of "
                f"which put temporaries "
                f"{sum(u.startswith('put-') for u in self.unknown_uploads)}), "
                f"upload rows {self.upload_rows}")


def census(node: BerthNode) -> Census:
    """Of a stopped node: its stored files and upload files against its rows."""
    rows = set(node.query("SELECT key_ref, digest FROM blobs"))
    data = node.blobs_dir / "data"
    stored = {}
    for path in data.rglob("*"):
        if path.is_file():
            key = str(path.relative_to(data))
            stored[key] = parse_key(key)
    unknown = sorted(key for key, parsed in stored.items() if parsed not in rows)
    missing = len(rows - set(stored.values()))
    unlinked = node.query(
        "SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM repository_blobs l"
        " JOIN repositories r ON r.id = l.repository_id"
        " WHERE l.digest = b.digest AND r.key_ref = b.key_ref)")[0][0]
    upload_ids = {i for (i,) in node.query("SELECT id FROM uploads")}
    uploads = sorted(p.name for p in (node.blobs_dir / "uploads").iterdir())
    return Census(len(stored), unknown, missing, unlinked, len(uploads),
                  [u for u in uploads if u not in upload_ids], len(upload_ids))


def test_kill9_under_concurrent_pushers_loses_nothing_and_gc_leaves_no_orphans(tmp_path):
    node = BerthNode(tmp_path, env=ENV).start()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    seed0 = rng.randrange(1 << 30)
    ledger = Ledger()
    summary = [f"seed {seed0}"]
    try:
        for round_ in range(ROUNDS):
            killing = threading.Event()
            threads = [threading.Thread(target=_pusher, daemon=True, name=f"pusher-{i}",
                                        args=(node, i, seed0 + round_ * 1000 + i, ledger,
                                              killing))
                       for i in range(PUSHERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(*KILL_AFTER))
            killing.set()
            processes = kill9(node)
            for t in threads:
                t.join(timeout=TIMEOUT)
            assert not any(t.is_alive() for t in threads), "a pusher hung after the kill"
            assert processes >= 2, f"the server ran {processes} process(es), not workers too"
            assert not ledger.errors, "\n".join(ledger.errors[:20])
            after_kill = census(node)
            node.start()
            problems = check_acknowledged(node, ledger.images, ledger.blobs)
            assert not problems, f"round {round_}: {len(problems)} failures:\n" + "\n".join(
                problems[:30])
            summary.append(f"round {round_}: killed {processes} processes; acknowledged so far "
                           f"{len(ledger.images)} images, {len(ledger.blobs)} blobs; "
                           f"after the kill: {after_kill.line()}")
        assert len(ledger.images) >= ROUNDS * 10, f"too little was pushed: {summary}"

        node.stop()
        summary.append(f"left by the crashes: {census(node).line()}")
        # What crashes of older versions left too (and proof that the checks below bite,
        # whatever these crashes left): objects and uploads no row knows.
        planted = plant_orphans(node.blobs_dir, 3)
        for name in ("0badf00d-0000-4000-8000-000000000000", "put-0123456789abcdef"):
            (node.blobs_dir / "uploads" / name).write_bytes(os.urandom(100))
        before = census(node)
        assert len(before.unknown_files) >= len(planted) and len(before.unknown_uploads) >= 2
        summary.append(f"before gc: {before.line()}")
        env = clean_env(BERTH_GC_GRACE_SECONDS="0")
        report = berth_admin("gc", *settings_flags(node), env=env)
        after = census(node)
        summary.append(f"gc: {report}")
        summary.append(f"after gc: {after.line()}")
        print("\n".join(summary))
        assert after.unknown_files == [], f"stored files no row knows: {after.unknown_files[:10]}"
        assert after.unknown_uploads == [], (
            f"upload files no row knows: {after.unknown_uploads[:10]}")
        # With no grace period, nothing unreferenced is left either; every row has its file.
        assert (after.rows_without_file, after.unlinked_rows) == (0, 0), after.line()
        assert report["OrphansFound"] == len(before.unknown_files), report

        node.start()
        kept = image_blobs(ledger.images)
        problems = check_acknowledged(node, ledger.images, kept)
        assert not problems, f"after gc: {len(problems)} failures:\n" + "\n".join(problems[:30])
        node.assert_consistent()
        summary.append(f"checked after gc: {len(ledger.images)} images, {len(kept)} blobs")
        print(summary[-1])
    except BaseException:
        print("\n".join(summary))
        print(node.log_text())
        raise
    finally:
        node.stop()
