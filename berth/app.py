"""The application factory: the one place where settings, storage, services, jobs and
protocol front-ends are wired together. Nothing here runs at import time."""
from __future__ import annotations

import contextlib
import gc
import logging
from typing import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .api.admin import admin_route
from .api.metrics import metrics_route
from .api.ecr import model as ecr_model
from .api.ecr.routes import ecr_route
from .api.ecr_public.routes import ecr_public_route
from .api.console.routes import console_routes
from .api.gallery.routes import gallery_routes
from .api.sts.endpoint import aws_root
from .iam.tasks import schedule_session_prune
from .api.http.admission import BodyGate
from .api.middleware import StaticHeaders
from .api.oci.errors import HANDLERS
from .api.oci.public import token as public_token
from .api.oci.routes import routes as oci_routes
from .concurrency import Limits, blocking, configure
from .config import Settings, load_settings
from .events import Outbox
from .events.tasks import schedule_delivery
from .gc import collector_for
from .gc import subscriber as gc_subscriber
from .gc.tasks import handle_runs, schedule_sweeps
from .iam.service import Iam
from .iam.wiring import open_iam
from .jobs.queue import JobQueue
from .jobs.runner import JobRunner
from .keys import open_keys
from .notifications import subscriber as notifications_subscriber
from .pullthrough import imports as pullthrough_imports
from .pullthrough.wiring import open_pullthrough
from .replication import tasks as replication_tasks
from .audit.recorder import AuditRecorder
from .audit.tasks import schedule_audit_prune
from .lifecycle.tasks import schedule_lifecycle
from .scanning import tasks as scanning_tasks
from .scanning.scanner import Limits as ScanLimits
from .notifications.tasks import schedule_notifications
from .observability import buffered
from .observability import metrics as prometheus_metrics
from .observability.flusher import Flusher
from .observability.prometheus import mark_dead
from .observability import Observer
from .observability.access_log import access_log
from .observability.middleware import RequestObserver
from .public.pull_limits import PullLimiter
from .quotas.buckets import node_buckets
from .quotas.sharing import SYNC_SECONDS, RateSharing
from .process import configure_logging, default_workers, die_with_supervisor, tune_malloc
from .registry.images import referrers
from .registry.registry import Registry
from .signing import tasks as signing_tasks
from .registry.repositories.encryption import Encryption
from .registry.tasks import handle_restores, schedule_upload_expiry
from .storage.blobs import open_driver
from .storage.blobs.encrypted import EncryptedDriver
from .storage.blobs.metered import MeteredDriver
from .storage.metadata.database import Database, pool_size_for
from .usage.report import Pricing
from .usage.tasks import schedule_sampling
from .usage.transfer import Networks, TransferCounter, TransferFlusher

log = logging.getLogger("berth")


AUDIT_FLUSH_SECONDS = 1.0


def open_registry(settings: Settings) -> tuple[Registry, Iam]:
    """The default registry's services and IAM, over migrated metadata."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, pool_size_for(settings.workers or default_workers()))
    try:
        iam = open_iam(settings, db)
        keys = open_keys(db, iam.identities.master)
        # Every driver is wrapped: blobs under a key ref are sealed, others pass through;
        # beneath, the storage's own calls are timed when metrics are kept.
        storage = open_driver(settings)
        driver = EncryptedDriver(MeteredDriver(storage) if settings.metrics else storage,
                                 keys.store)
        registry = Registry.create(db, driver, settings.max_manifest_bytes,
                                   iam.registry_id(iam.tenancy.default),
                                   encryption=Encryption(keys, settings.storage_encrypted),
                                   grace_seconds=settings.gc_grace_seconds,
                                   max_manifest_references=settings.max_manifest_references)
        registry.usage_pricing = Pricing.parse(settings.price_per_gb_month,
                                               settings.price_per_gb_transferred)
        # IAM's instances (the admin API's too): one alias cache per process, not two.
        registry.secrets = iam.secrets
        registry.signing_profiles = iam.signing_profiles
        registry.public_registries = iam.public_registries
        registry.key_allows = iam.key_allows  # managed signing: may the pusher sign?
        registry.pullthrough = open_pullthrough(registry, settings)
    except BaseException:
        db.dispose()
        raise
    return registry, iam


def job_runner(settings: Settings, registry: Registry) -> JobRunner:
    """The background work every node may run: each domain's periodic jobs and the outbox's
    subscribers, registered here (nothing registers itself at import)."""
    queue = JobQueue(registry.db)
    runner = JobRunner(queue, settings.job_poll_seconds, settings.job_lease_seconds)
    schedule_upload_expiry(runner, registry.uploads, settings.upload_ttl_seconds,
                           settings.upload_expiry_interval_seconds)
    collector = collector_for(registry)
    schedule_sweeps(runner, collector, settings.gc_interval_seconds,
                    settings.gc_orphan_scan_seconds)
    handle_runs(runner, collector)
    schedule_delivery(runner, Outbox(registry.db), [gc_subscriber.subscriber(),
                                                    notifications_subscriber.subscriber(),
                                                    scanning_tasks.subscriber(queue),
                                                    replication_tasks.subscriber(queue),
                                                    signing_tasks.subscriber(queue),
                                                    referrers.subscriber()],
                      settings.event_delivery_seconds)
    replication_tasks.register(runner, registry)
    pullthrough_imports.register(runner, registry.pullthrough)
    signing_tasks.register(runner, registry, registry.signing_profiles, registry.key_allows)
    scanning_tasks.handle_scans(runner, registry, ScanLimits(settings.scan_max_layer_bytes,
                                                             settings.scan_max_layer_entries))
    scanning_tasks.schedule_refresh(runner, registry.db, settings.vulndb_urls,
                                    settings.vulndb_refresh_seconds)
    scanning_tasks.schedule_prune(runner, registry.db)
    scanning_tasks.schedule_expiry(runner, registry.db, queue, settings.scan_rescan_days)
    schedule_notifications(runner, registry.db, settings)
    schedule_sampling(runner, registry.db)
    schedule_lifecycle(runner, registry.db, settings.lifecycle_interval_seconds,
                       settings.lifecycle_check_seconds)
    handle_restores(runner, registry.db)
    schedule_audit_prune(runner, registry.db, settings.audit_retention_days)
    schedule_session_prune(runner, registry.db)
    return runner


def create_app(settings: Settings, run_jobs: bool | None = None) -> StaticHeaders:
    registry, iam = open_registry(settings)
    runner = job_runner(settings, registry)
    run_jobs = settings.jobs if run_jobs is None else run_jobs
    transfer = TransferCounter(Networks(settings.internal_networks))
    flushers = [TransferFlusher(transfer, registry.db, settings.usage_flush_seconds)]
    observers = [*request_observers(settings), transfer.observe]
    if settings.audit:
        recorder = AuditRecorder()
        flushers.append(Flusher("audit events", recorder, registry.db, AUDIT_FLUSH_SECONDS))
        observers.append(recorder.observe)
    if settings.rate_limits or settings.public_pulls_anonymous or \
            settings.public_pulls_authenticated:
        flushers.append(Flusher("shared rates", RateSharing(node_buckets()), registry.db,
                                SYNC_SECONDS))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        configure(limits(settings))
        if run_jobs:
            runner.start()
        for flusher in flushers:
            flusher.start()
        settle_heap()
        try:
            yield
        finally:
            await runner.stop()
            for flusher in flushers:
                await blocking(flusher.stop)
            registry.pullthrough.close()
            registry.close()
            mark_dead()

    app = Starlette(routes=[*oci_routes, Route("/healthz", _healthz), Route("/readyz", _readyz),
                            Route("/token/", public_token),
                            aws_root(ecr_route().endpoint, ecr_public_route().endpoint),
                            admin_route(), *gallery_routes(), *console_routes(),
                            *([metrics_route()] if settings.metrics else [])],
                    exception_handlers=HANDLERS, lifespan=lifespan,
                    middleware=[Middleware(RequestObserver, observers)])
    app.state.registry = registry
    app.state.iam = iam
    app.state.pullthrough = registry.pullthrough
    app.state.settings = settings
    app.state.usage_transfer = transfer  # its observe() counts bytes pulled
    app.state.body_gate = BodyGate(settings.uploads_per_principal, settings.uploads_per_address)
    app.state.public_pulls = PullLimiter(settings.public_pulls_anonymous,
                                         settings.public_pulls_authenticated,
                                         buckets=node_buckets(),
                                         namespace=iam.administrator.id)
    return StaticHeaders(app, {"Docker-Distribution-API-Version": "registry/2.0"})


def request_observers(settings: Settings) -> list[Observer]:
    """What is told of every request once its response is out (berth.observability)."""
    observers: list[Observer] = []
    if settings.access_log:
        observers.append(access_log)
    if settings.metrics:
        observers.append(prometheus_metrics.observe)
    return observers


def limits(settings: Settings) -> Limits:
    return Limits(metadata_threads=settings.metadata_threads,
                  upload_threads=settings.upload_threads, read_threads=settings.read_threads,
                  idle_seconds=float(settings.body_idle_seconds))


def settle_heap() -> None:
    """Load what every request will need (the ECR model), then move everything alive now out
    of the collector's sight: full collections then walk only what requests allocate, which
    keeps them from stalling large responses."""
    ecr_model.service_model()
    gc.collect()
    gc.freeze()


async def _healthz(request) -> PlainTextResponse:
    """Alive: the process answers."""
    return PlainTextResponse("ok")


async def _readyz(request) -> PlainTextResponse:
    """Ready: the metadata database and the blob storage answer (for load balancers)."""
    registry = request.app.state.registry
    for name, check in (("database", registry.db.check), ("storage", registry.driver.check)):
        try:
            await blocking(check)
        except Exception as exc:
            log.warning("not ready: %s: %s", name, exc)
            return PlainTextResponse(f"{name} unavailable", status_code=503)
    return PlainTextResponse("ready")


def create_app_from_env() -> StaticHeaders:
    """Entry point for server worker processes, which get their settings from BERTH_* vars."""
    die_with_supervisor()
    tune_malloc()
    settings = load_settings(flags={})
    configure_logging(settings.log_level, settings.log_format)  # a spawned worker has none
    return create_app(settings)


def prebuilt_app() -> Callable[[], StaticHeaders]:
    """In a supervisor, before it forks its workers: the application built once, for every
    worker to start from (shared copy-on-write, where each building its own kept ~15 MiB more
    of its own). Nothing may cross the fork in use: no database connection open (each
    worker opens its own), no metric count pending (each worker would count it again)."""
    app = create_app_from_env()
    app.app.state.registry.db.dispose()
    buffered.flush()
    settle_heap()
    return lambda: app
