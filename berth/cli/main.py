"""``berth serve``, ``berth db upgrade`` and ``berth admin``."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from ..config import Settings, load_settings
from ..iam.service import UnknownRegistry
from ..iam.wiring import open_iam
from ..keys.master import MasterKeyError
from ..observability.logs import logging_config
from ..process import (
    SUPERVISOR_ENV,
    configure_logging,
    default_workers,
    keep_files_private,
)
from ..storage.metadata import migrate
from ..storage.metadata.database import Database
from . import admin

log = logging.getLogger("berth")


def redacted(url: str) -> str:
    """A URL fit for a log: any password replaced."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file of settings (env BERTH_CONFIG)")
    parser.add_argument("--data-dir", help="where embedded metadata and blobs live "
                                           "(default ./berth-data)")
    parser.add_argument("--database", help="metadata database URL (default: SQLite in data dir)")
    parser.add_argument("--storage", help="blob storage URL (default: files in data dir)")
    parser.add_argument("--s3-endpoint-url", help="S3 endpoint for s3:// storage "
                                                  "(default: boto3's, e.g. AWS_ENDPOINT_URL)")
    parser.add_argument("--s3-region", help="S3 region for s3:// storage")
    parser.add_argument("--storage-redirect", choices=("auto", "on", "off"),
                        help="answer blob pulls with a 307 to a presigned URL (default auto)")
    parser.add_argument("--storage-encrypted", action="store_const", const=True,
                        help="the storage encrypts at rest itself: store AES256 repositories "
                             "as they are")
    parser.add_argument("--log-level", help="debug, info, warning, error")


def _add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=("text", "json"),
                        help="text (default) or json: one JSON object per line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth", description="Berth container registry")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the registry server")
    _add_settings_flags(serve)
    _add_log_flags(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5000)")
    serve.add_argument("--metrics-port", type=int,
                       help="serve /metrics on this port too (default 0: the API port only)")
    serve.add_argument("--workers", type=int,
                       help="server processes (default 0: one per CPU, at most 8)")
    serve.add_argument("--no-jobs", dest="jobs", action="store_const", const=False,
                       help="serve only; background jobs run in `berth worker` processes "
                            "(env BERTH_JOBS=false)")
    worker_parser = sub.add_parser(
        "worker", help="run background jobs only (garbage collection, expiry, events)")
    _add_settings_flags(worker_parser)
    _add_log_flags(worker_parser)
    db = sub.add_parser("db", help="metadata database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    _add_settings_flags(db_sub.add_parser("upgrade", help="apply schema migrations"))
    admin.add_parser(sub, _add_settings_flags)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "db_command", "config")}
    return load_settings(flags=flags, config_file=args.config)


def _upgrade(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()


def _bootstrap(settings: Settings) -> None:
    """Create the administrator (first start) before workers start, so they find it."""
    db = Database(settings.database_url)
    try:
        open_iam(settings, db)
    finally:
        db.dispose()


def _prepare(settings: Settings) -> bool:
    """Migrate and bootstrap before any process starts work; False if it cannot start."""
    _upgrade(settings)
    try:
        _bootstrap(settings)
    except (MasterKeyError, UnknownRegistry, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return False
    log.info("metadata: %s", redacted(settings.database_url))
    log.info("blobs: %s", settings.storage_url)
    return True


def serve(settings: Settings) -> int:
    import uvicorn

    metrics_dir = _metrics_directory(settings)  # before anything makes a metric
    if not _prepare(settings):
        return 1
    workers = settings.workers or default_workers()
    log.info("listening on http://%s:%d (%d worker%s)", settings.host, settings.port,
             workers, "" if workers == 1 else "s")
    # Workers are separate processes: they rebuild the settings from the environment (with
    # their number, which sizes each one's share of the database connections).
    os.environ.update(dataclasses.replace(settings, workers=workers).to_env())
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    metrics_server = _metrics_server(settings)
    uvicorn.run("berth.app:create_app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=workers,
                log_level=settings.log_level, server_header=False,
                # Berth's request log replaces uvicorn's; uvicorn's lines take Berth's format.
                access_log=False, log_config=logging_config(settings.log_level,
                                                            settings.log_format),
                timeout_keep_alive=30, lifespan="on",
                http="berth.api.http.protocol:BerthHttpProtocol")
    _stop_metrics(metrics_dir, metrics_server)
    return 0


def _metrics_directory(settings: Settings):
    """Where the workers' Prometheus values live (multi-process mode), fresh per start."""
    if not settings.metrics:
        return None
    from ..observability.prometheus import prepare_directory, scratch_base

    return prepare_directory(scratch_base(settings.data_dir))


def _metrics_server(settings: Settings):
    if not (settings.metrics and settings.metrics_port):
        return None
    from ..api.metrics import start_server

    log.info("metrics on http://%s:%d/metrics%s", settings.host, settings.metrics_port,
             " (anonymous)" if settings.metrics_anonymous else "")
    return start_server(settings, lambda: open_iam(settings, Database(settings.database_url)))


def _stop_metrics(directory, server) -> None:
    if server is not None:
        server.shutdown()
    if directory is not None:
        from ..observability.prometheus import remove_directory

        remove_directory(directory)


def worker(settings: Settings) -> int:
    from . import worker as worker_process

    return worker_process.run(settings) if _prepare(settings) else 1


def main(argv: list[str] | None = None) -> int:
    keep_files_private()  # before anything is created; workers inherit it
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
    except (ValueError, OSError) as exc:
        print(f"berth: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "worker":
        return worker(settings)
    if args.command == "admin":
        return admin.run(args, settings)
    if args.command == "db" and args.db_command == "upgrade":
        _upgrade(settings)
        log.info("metadata schema at %s", migrate.head_revision(Database(settings.database_url)))
        return 0
    return 2
