"""What one invocation compares: setups, each a few server variants measured side by side on
the same workloads (fresh server per variant and run, order alternating) and reported as one
table with its own ratio columns.

  fs           Berth vs Distribution, local filesystem, every selected workload (the default)
  s3-redirect  blob push/pull through S3 (a throwaway Ceph radosgw), pulls answered with a 307
               to a presigned gateway URL that the client follows
  s3-proxied   the same with the registry streaming pulls itself; plus Berth with its default
               encryption on S3 (it seals AES256 repositories itself, so it never redirects)
  encryption   Berth sealing AES256 repositories (its default) vs Berth told the storage
               encrypts (--storage-encrypted: stored plain), on the filesystem
  nodes        manifest GET/HEAD with one Berth node and with two nodes on one PostgreSQL
               database, load spread round-robin over both nodes
  gc-online    small-image pushes and manifest GET/HEAD with garbage collection idle vs
               sweeping back to back (bench/gc_online.py)
  gc-sweep     one offline sweep over N blobs, half garbage, on files and S3: time, peak RSS
               (bench/gc_sweep.py; its own procedure and table, no server variants)
  baseline     this tree vs Berth at --baseline-rev (a git worktree), Distribution as reference
  notifications  small-image pushes with no webhook target vs three (two live receivers, one
               dead), put through the admin API before the workloads (bench/notifications.py)
  observability  manifest GET/HEAD with the access log on (the default) vs off, at log level
               info (OBSERVABILITY_VARIANTS: one variant per observer, each against "on")
  tls          what HTTPS costs: Berth plain HTTP vs Berth --tls-cert/--tls-key, Distribution
               with http.tls as the reference (and plain), certificates from a test CA the
               harness makes; blob push/pull, small-image pushes, manifest GET/HEAD at
               --tls-concurrency (bench/tls.py)

Berth on S3 runs with --storage-encrypted where it is compared with Distribution: Distribution
does not encrypt, and Berth redirects only blobs it does not seal itself.
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import baseline, gc_sweep, tls
from .gc_online import GcBerth
from .gc_online import notes as gc_online_notes
from .notifications import NotifyBerth
from .notifications import notes as notifications_notes
from .servers import Berth, Distribution, Server

BLOB_WORKLOADS = ("push_monolithic", "push_chunked", "pull")


class Backends:
    """Workdir, options and the shared storage/database daemons of one invocation."""

    def __init__(self, workdir: Path, o: argparse.Namespace):
        self.workdir, self.o = workdir, o
        self.s3 = self.pg = None
        self.certs: tls.Certificates | None = None
        self.baseline: Path | None = None

    def start(self, needs: set[str]) -> None:
        if "s3" in needs and self.s3 is None:
            from .ceph import S3Backend
            self.s3 = S3Backend().start()
        if "postgres" in needs and self.pg is None:
            from .postgres import PostgresBackend
            self.pg = PostgresBackend().start()
        if "baseline" in needs and self.baseline is None:
            self.baseline = baseline.checkout(self.workdir, self.o.baseline_rev)
        if "tls" in needs and self.certs is None:
            self.certs = tls.make_certificates(self.workdir / "tls")

    def stop(self) -> None:
        for b in (self.s3, self.pg, self.certs):
            if b is not None:
                b.stop()
        if self.baseline is not None:
            baseline.remove(self.baseline)

    def berth(self, *args: str, env: dict[str, str] | None = None) -> Berth:
        o = self.o
        return Berth(self.workdir, o.berth_python, o.berth_workers, [*o.berth_arg, *args], env)


@dataclass
class Variant:
    key: str                                # results key within the setup
    label: str                              # column header
    make: Callable[[Backends], Server]
    kind: str = "berth"                     # or "distribution": no Berth-only workloads
    short: str = ""                         # its name in ratio headers (default: label)


@dataclass
class Setup:
    name: str
    title: str
    variants: list[Variant]
    workloads: tuple[str, ...] = ()         # () = every workload selected with --workloads
    ratios: tuple[tuple[str, str], ...] = (("berth", "distribution"),)
    needs: frozenset[str] = frozenset()     # "s3", "postgres", "baseline", "tls"
    options_from: dict = field(default_factory=dict)  # option -> option it takes its value from
    notes: tuple[str, ...] = ()
    check_at_rest: bool = False
    # A setup with its own procedure and table instead of server variants: an object with
    # runs(o), measure(backends, o, run) -> dict and markdown(runs, o) -> str (gc_sweep).
    custom: Any = None
    extra_notes: Callable | None = None     # (runs per variant, options) -> more notes

    def options(self, o: argparse.Namespace) -> argparse.Namespace:
        so = copy.copy(o)
        for k, v in self.options_from.items():
            setattr(so, k, getattr(o, v))
        return so

    def selected_workloads(self, o: argparse.Namespace) -> list[str]:
        return [w for w in o.workloads if not self.workloads or w in self.workloads]


def _distribution_fs(b: Backends) -> Server:
    return Distribution(b.workdir)


def _on_s3(server: Server, b: Backends, bucket: str) -> Server:
    server.backend_pids = b.s3.pids()
    server.cleanups.append(lambda: b.s3.drop_bucket(bucket))
    return server


def _berth_s3(*args: str) -> Callable[[Backends], Server]:
    def make(b: Backends) -> Server:
        bucket = b.s3.new_bucket()
        return _on_s3(b.berth(*b.s3.berth_args(bucket), *args, env=b.s3.env()), b, bucket)
    return make


def _distribution_s3(redirect: bool) -> Callable[[Backends], Server]:
    def make(b: Backends) -> Server:
        bucket = b.s3.new_bucket()
        return _on_s3(Distribution(b.workdir, b.s3.distribution_storage(bucket, redirect)),
                      b, bucket)
    return make


def _berth_pg(b: Backends) -> Server:
    server = b.berth("--database", b.pg.new_database())
    server.backend_pids = b.pg.pids()
    return server


def _berth_pg_nodes(count: int) -> Callable[[Backends], Server]:
    def make(b: Backends) -> Server:
        from .nodes import BerthNodes
        o = b.o
        server = BerthNodes(b.workdir, count, b.pg.new_database(), o.berth_python,
                            o.berth_workers, o.berth_arg)
        server.backend_pids = b.pg.pids()
        return server
    return make


def _berth_baseline(b: Backends) -> Server:
    assert b.baseline is not None
    return b.berth(env=baseline.env(b.baseline))


PLAIN = "--storage-encrypted"
# Every Berth here logs at info, as deployments do (other setups run at warning, where the
# access log is silent); each variant turns one observer off or on against the default.
OBSERVED = ("--log-level", "info")
OBSERVABILITY_VARIANTS = [
    Variant("berth", "Berth, access log on (default)", lambda b: b.berth(*OBSERVED),
            short="on"),
    Variant("berth-quiet", "Berth, BERTH_ACCESS_LOG=false",
            lambda b: b.berth(*OBSERVED, env={"BERTH_ACCESS_LOG": "false"}), short="off"),
    Variant("berth-unmetered", "Berth, BERTH_METRICS=false",
            lambda b: b.berth(*OBSERVED, env={"BERTH_METRICS": "false"}), short="no metrics"),
    Variant("berth-bare", "Berth, access log and metrics off",
            lambda b: b.berth(*OBSERVED, env={"BERTH_ACCESS_LOG": "false",
                                              "BERTH_METRICS": "false"}), short="both off"),
]
SETUPS = {s.name: s for s in [
    Setup("fs", "Filesystem: Berth vs Distribution", [
        Variant("berth", "Berth", lambda b: b.berth()),
        Variant("distribution", "Distribution", _distribution_fs, "distribution")],
        notes=("Berth runs with its defaults: it seals the blobs of AES256 repositories (every "
               "repository a push creates) itself; the encryption table shows what that "
               "costs.",)),
    Setup("s3-redirect", "S3 (Ceph radosgw), pulls redirected to the gateway", [
        Variant("berth", "Berth", _berth_s3(PLAIN, "--storage-redirect", "auto")),
        Variant("distribution", "Distribution", _distribution_s3(True), "distribution")],
        BLOB_WORKLOADS, needs=frozenset({"s3"}),
        notes=("Berth with --storage-encrypted (stores plain, as Distribution does; it "
               "redirects only blobs it does not seal). Pull = the registry's 307 plus the "
               "client's GET of the presigned URL from the gateway, without the registry "
               "token.",)),
    Setup("s3-proxied", "S3 (Ceph radosgw), pulls streamed by the registry", [
        Variant("berth", "Berth", _berth_s3(PLAIN, "--storage-redirect", "off")),
        Variant("distribution", "Distribution", _distribution_s3(False), "distribution"),
        Variant("berth-sealed", "Berth, sealing (default)", _berth_s3(), short="sealing")],
        BLOB_WORKLOADS, (("berth", "distribution"), ("berth-sealed", "berth")),
        frozenset({"s3"}),
        notes=("Berth: --storage-encrypted --storage-redirect off; Distribution: "
               "storage.redirect.disable. 'Berth, sealing': Berth's defaults on S3, i.e. it "
               "encrypts AES256 repositories itself and so serves their pulls itself.",)),
    Setup("encryption", "Encryption at rest: the cost on push and pull (filesystem)", [
        Variant("berth", "Berth, sealing (default)", lambda b: b.berth(), short="sealing"),
        Variant("berth-plain", "Berth, --storage-encrypted", lambda b: b.berth(PLAIN),
                short="plain"),
        Variant("distribution", "Distribution", _distribution_fs, "distribution")],
        BLOB_WORKLOADS, (("berth", "berth-plain"), ("berth-plain", "distribution")),
        check_at_rest=True,
        notes=("'sealing': AES-256-GCM in 64 KiB segments under the deployment key (Berth's "
               "default for AES256 repositories); '--storage-encrypted': Berth trusts the "
               "storage to encrypt and stores the bytes as they are.",)),
    Setup("nodes", "Two Berth nodes on one PostgreSQL database", [
        Variant("berth", "Berth, 1 node", _berth_pg, short="1 node"),
        Variant("berth-2", "Berth, 2 nodes", _berth_pg_nodes(2), short="2 nodes"),
        Variant("distribution", "Distribution (filesystem)", _distribution_fs, "distribution",
                "Distribution")],
        ("manifests",), (("berth-2", "berth"), ("berth", "distribution")),
        frozenset({"postgres"}), {"concurrency": "node_concurrency"},
        notes=("Berth nodes: metadata in one PostgreSQL database (throwaway cluster, fsync "
               "off, same disk), blobs in one shared directory, one master key; the load "
               "generator opens its connections round-robin over the nodes' ports.",
               "On a 2-CPU machine two nodes cannot double throughput: both nodes, PostgreSQL "
               "and the load generator share the same two CPUs (see the CPU rows). The rows "
               "show that two nodes serve one deployment and what a request costs them and "
               "the database, not how Berth scales out.")),
    Setup("gc-online", "Garbage collection online: idle vs sweeping back to back (files)", [
        Variant("berth-idle", "Berth, GC idle", lambda b: GcBerth(b.workdir, b.o, False),
                short="idle"),
        Variant("berth-gc", "Berth, sweeping", lambda b: GcBerth(b.workdir, b.o, True),
                short="sweeping")],
        ("push_images", "manifests"), (("berth-gc", "berth-idle"),),
        options_from={"images": "gc_images"}, extra_notes=gc_online_notes),
    Setup("gc-sweep", "Garbage collection: one sweep over N blobs", [], custom=gc_sweep),
    Setup("baseline", "Berth now vs Berth at --baseline-rev (filesystem)", [
        Variant("berth", "Berth (this tree)", lambda b: b.berth(), short="now"),
        Variant("berth-base", "Berth (--baseline-rev)", _berth_baseline, short="before"),
        Variant("distribution", "Distribution", _distribution_fs, "distribution")],
        ratios=(("berth", "berth-base"), ("berth", "distribution")),
        needs=frozenset({"baseline"}),
        notes=("Both Berths run with their defaults on the same venv; the baseline's code is "
               "a git worktree of --baseline-rev.",)),
    Setup("observability", "Observability: access log (and metrics) on vs off (filesystem)",
          OBSERVABILITY_VARIANTS, ("manifests",),
          tuple(("berth", v.key) for v in OBSERVABILITY_VARIANTS[1:]),
          notes=("Both Berths at --log-level info, the server log written to a file.",)),
    Setup("notifications", "Event notifications: pushes with 3 webhook targets (1 dead) vs none",
          [Variant("berth", "Berth, no targets", lambda b: NotifyBerth(b.workdir, b.o, False),
                   short="none"),
           Variant("berth-notify", "Berth, 3 targets (1 dead)",
                   lambda b: NotifyBerth(b.workdir, b.o, True), short="3 targets")],
          ("push_images",), (("berth-notify", "berth"),), extra_notes=notifications_notes),
]}


def _tls_variant(key: str, make: Callable[[Backends], Server], kind: str = "berth",
                 https: bool = False) -> Variant:
    label, short = tls.LABELS[key]
    return Variant(key, label, (lambda b: tls.with_tls(make(b), b.certs)) if https else make,
                   kind, short)


SETUPS["tls"] = Setup(
    "tls", "HTTPS: Berth and Distribution over TLS vs plain HTTP (filesystem)", [
        _tls_variant("berth", lambda b: b.berth()),
        _tls_variant("berth-tls", lambda b: b.berth(), https=True),
        _tls_variant("distribution-tls", _distribution_fs, "distribution", https=True),
        _tls_variant("distribution", _distribution_fs, "distribution")],
    tls.WORKLOADS, tls.RATIOS, frozenset({"tls"}), {"concurrency": "tls_concurrency"},
    tls.NOTES, extra_notes=tls.notes)
ALIASES = {"s3": ["s3-redirect", "s3-proxied"], "gc": ["gc-online", "gc-sweep"],
           "all": ["fs", "s3-redirect", "s3-proxied", "encryption", "nodes", "gc-online",
                   "gc-sweep", "tls"]}


def select(names: list[str]) -> list[Setup]:
    out: list[str] = []
    for n in names:
        for m in ALIASES.get(n, [n]):
            if m not in SETUPS:
                raise ValueError(f"unknown setup {m!r} (known: {', '.join([*SETUPS, *ALIASES])})")
            if m not in out:
                out.append(m)
    return [SETUPS[m] for m in out]
