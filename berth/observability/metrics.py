"""Prometheus metrics: their definitions, the request observer, and small recording helpers
the instrumented modules call.

Metrics are made on first use (``metrics()``), not at import: in multi-process mode
prometheus_client picks each value's storage (an mmap file per process) when the value is
made, so nothing may be made before ``berth serve`` has set PROMETHEUS_MULTIPROC_DIR
(berth.observability.prometheus). Every metric has labels for the same reason: a label-less
one makes its value at construction. Labels are bounded: no digests, tags, repositories,
principals or addresses."""
from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from . import RequestRecord, buffered

# Request latency: from a cached manifest GET (~1 ms) to a large blob (minutes).
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300)
# Database transactions: sub-millisecond SQLite reads to slow writes.
FAST_BUCKETS = (.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5)
# Blob storage calls: a local stat (~50 us) to a server-side copy of a large object on S3.
STORAGE_BUCKETS = (.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                   2.5, 5, 10, 30, 120)
JOB_BUCKETS = (.01, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    def __init__(self):
        self.requests = Counter(
            "berth_http_requests", "HTTP requests answered",
            ["protocol", "route", "method", "status"])
        self.request_seconds = Histogram(
            "berth_http_request_duration_seconds",
            "From a request's first byte to its last response byte",
            ["protocol", "route", "method"], buckets=LATENCY_BUCKETS)
        self.pushed_bytes = Counter(
            "berth_pushed_bytes", "Blob and manifest bytes received by pushes", ["kind"])
        self.pulled_bytes = Counter(
            "berth_pulled_bytes", "Blob and manifest bytes sent by pulls", ["kind"])
        self.uploads_in_progress = Gauge(
            "berth_uploads_in_progress", "Request bodies of uploads being received now",
            ["protocol"], multiprocess_mode="livesum")
        self.manifests_pushed = Counter(
            "berth_manifests_pushed", "Manifests newly stored by pushes", ["kind"])
        self.tags_pushed = Counter(
            "berth_tags_pushed", "Tags pushed that were new or now name another manifest",
            ["change"])
        self.refusals = Counter(
            "berth_authorization_refusals", "Requests refused by authentication or "
            "authorization", ["protocol", "reason"])
        self.pullthrough = Counter(
            "berth_pullthrough_upstream", "Pull-through caches' dealings with upstreams: "
            "what was asked (manifest, refresh, blob) and the outcome (fetched, unchanged, "
            "stale: served from the cache as the upstream failed, or the failure's code)",
            ["what", "outcome"])
        self._jobs()
        self._storage()

    def _jobs(self) -> None:
        self.jobs_started = Counter("berth_jobs_started", "Background jobs claimed", ["kind"])
        self.jobs_finished = Counter(
            "berth_jobs_finished", "Background job attempts ended, by outcome "
            "(done, retried, failed, lost)", ["kind", "outcome"])
        self.jobs_running = Gauge("berth_jobs_running", "Background jobs running now",
                                  ["kind"], multiprocess_mode="livesum")
        self.jobs_queued = Gauge("berth_jobs_queued", "Background jobs waiting (sampled)",
                                 ["kind"], multiprocess_mode="mostrecent")
        self.job_lag = Histogram("berth_job_lag_seconds",
                                 "From when a job was due to when it was claimed", ["kind"],
                                 buckets=JOB_BUCKETS)
        self.job_seconds = Histogram("berth_job_duration_seconds", "Background job run time",
                                     ["kind"], buckets=JOB_BUCKETS)
        self.outbox_backlog = Gauge(
            "berth_outbox_backlog_events", "Domain events a subscriber has yet to handle",
            ["subscriber"], multiprocess_mode="mostrecent")
        self.gc_freed_objects = Counter(
            "berth_gc_freed_objects", "Stored objects garbage collection removed", ["source"])
        self.gc_freed_bytes = Counter(
            "berth_gc_freed_bytes", "Stored bytes garbage collection freed", ["source"])

    def _storage(self) -> None:
        self.db_seconds = Histogram(
            "berth_db_transaction_duration_seconds",
            "Metadata transactions, from taking a connection to giving it back", ["kind"],
            buckets=FAST_BUCKETS)
        self.storage_seconds = Histogram(
            "berth_storage_operation_duration_seconds",
            "Blob storage driver calls, until their answer (a read's or a walk's: its first "
            "bytes or entry)", ["driver", "operation"], buckets=STORAGE_BUCKETS)
        self.storage_errors = Counter(
            "berth_storage_errors", "Blob storage driver calls that failed (a blob or upload "
            "that is not there is an answer, not a failure)", ["driver", "operation"])
        self.db_in_use = Gauge("berth_db_connections_in_use",
                               "Metadata connections held by transactions", ["database"],
                               multiprocess_mode="livesum")
        self.db_waiting = Gauge("berth_db_connections_waiting",
                                "Transactions waiting for a pooled connection", ["database"],
                                multiprocess_mode="livesum")


_metrics: Metrics | None = None


def metrics() -> Metrics:
    global _metrics
    if _metrics is None:
        buffered.install()
        _metrics = Metrics()
    return _metrics


# -- the request observer ----------------------------------------------------------------

class _Route:
    """One (protocol, route, method) with its children looked up once: ``labels()`` takes
    a lock and builds tuples, too much on every request."""
    __slots__ = ("seconds", "by_status", "labels", "pushed", "pulled")

    def __init__(self, m: Metrics, protocol: str, route: str, method: str):
        self.labels = (protocol, route, method)
        self.seconds = m.request_seconds.labels(protocol, route, method)
        self.by_status: dict[int, object] = {}
        kind = _content_kind(protocol, route)
        self.pushed = m.pushed_bytes.labels(kind) if kind and method in ("PUT", "PATCH",
                                                                           "POST") else None
        self.pulled = m.pulled_bytes.labels(kind) if kind and method == "GET" else None

    def requests(self, m: Metrics, status: int):
        found = self.by_status.get(status)
        if found is None:
            found = self.by_status[status] = m.requests.labels(*self.labels, str(status))
        return found


def _content_kind(protocol: str, route: str) -> str | None:
    if protocol != "oci":
        return None
    if "/blobs/" in route:
        return "blob"
    if "/manifests/" in route:
        return "manifest"
    return None


_routes: dict[tuple[str, str, str], _Route] = {}


def observe(record: RequestRecord) -> None:
    """The observer create_app registers: a dict lookup and three or four value updates."""
    m = metrics()
    key = (record.protocol, record.route, record.method)
    route = _routes.get(key)
    if route is None:
        route = _routes[key] = _Route(m, *key)
    route.requests(m, record.status).inc()
    route.seconds.observe(record.seconds)
    if route.pushed is not None and record.bytes_in and record.status < 400:
        route.pushed.inc(record.bytes_in)
    if route.pulled is not None and record.bytes_out and record.status < 400:
        route.pulled.inc(record.bytes_out)


# -- helpers for the instrumented modules ----------------------------------------------

def refused(protocol: str, reason: str) -> None:
    """reason: unauthenticated (no or bad credentials or signature), explicit_deny,
    implicit_deny, not_admin, unknown_registry, throttled (too many bodies in flight, or a
    signed request sent again)."""
    metrics().refusals.labels(protocol, reason).inc()


def pullthrough(what: str, outcome: str) -> None:
    metrics().pullthrough.labels(what, outcome).inc()


def denial_reason(message: str) -> str:
    """The reason of an AccessDenied, from AWS's wording (berth.iam.authorization)."""
    if "explicit deny" in message:
        return "explicit_deny"
    if "only the administrator" in message:
        return "not_admin"
    return "implicit_deny"


class DatabaseMetrics:
    """A database's children, looked up once (transactions are on every request's path)."""
    __slots__ = ("in_use", "waiting", "read_seconds", "write_seconds")

    def __init__(self, database: str):
        m = metrics()
        self.in_use = m.db_in_use.labels(database)
        self.waiting = m.db_waiting.labels(database)
        self.read_seconds = m.db_seconds.labels("read")
        self.write_seconds = m.db_seconds.labels("write")


class StorageMetrics:
    """A storage driver's children per operation, looked up once (every blob read and
    write passes here)."""

    def __init__(self, driver: str):
        self.driver = driver
        self._children: dict[str, tuple] = {}

    def of(self, operation: str) -> tuple:
        """(latency histogram, error counter) of the operation."""
        found = self._children.get(operation)
        if found is None:
            m = metrics()
            found = self._children[operation] = (
                m.storage_seconds.labels(self.driver, operation),
                m.storage_errors.labels(self.driver, operation))
        return found


def image_pushed(created: bool, is_index: bool, tag_change: str) -> None:
    """After a manifest put committed; tag_change: "", "created" or "moved"."""
    m = metrics()
    if created:
        m.manifests_pushed.labels("index" if is_index else "image").inc()
    if tag_change:
        m.tags_pushed.labels(tag_change).inc()


def job_claimed(kind: str, lag: float | None) -> None:
    """lag: from when the job was due (None for one taken over from a lapsed lease)."""
    m = metrics()
    m.jobs_started.labels(kind).inc()
    if lag is not None:
        m.job_lag.labels(kind).observe(max(lag, 0.0))


def job_finished(kind: str, outcome: str) -> None:
    metrics().jobs_finished.labels(kind, outcome).inc()


class job_running:
    """Counts a running job and times it (a context manager)."""
    __slots__ = ("kind", "started")

    def __init__(self, kind: str):
        self.kind = kind

    def __enter__(self) -> None:
        metrics().jobs_running.labels(self.kind).inc()
        self.started = time.perf_counter()

    def __exit__(self, *exc) -> None:
        m = metrics()
        m.jobs_running.labels(self.kind).dec()
        m.job_seconds.labels(self.kind).observe(time.perf_counter() - self.started)


def jobs_queued(kinds: list[str], counts: dict[str, int]) -> None:
    gauge = metrics().jobs_queued
    for kind in {*kinds, *counts}:
        gauge.labels(kind).set(counts.get(kind, 0))


def outbox_backlog(subscriber: str, events: int) -> None:
    metrics().outbox_backlog.labels(subscriber).set(events)


def gc_freed(source: str, objects: int, freed_bytes: int) -> None:
    """source: "unreferenced" (objects no link kept) or "orphan" (files no metadata knew)."""
    m = metrics()  # zeros too: a sweep that freed nothing still shows the series
    m.gc_freed_objects.labels(source).inc(objects)
    m.gc_freed_bytes.labels(source).inc(freed_bytes)


class uploading:
    """Counts a request body of an upload in progress (a context manager)."""
    __slots__ = ("gauge",)

    def __init__(self, protocol: str = "oci"):
        self.gauge = metrics().uploads_in_progress.labels(protocol)

    def __enter__(self) -> None:
        self.gauge.inc()

    def __exit__(self, *exc) -> None:
        self.gauge.dec()

