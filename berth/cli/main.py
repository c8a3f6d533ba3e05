"""``berth serve``, ``berth db upgrade`` and ``berth admin``."""
from __future__ import annotations

import argparse
import logging
import sys

from ..config import Settings, load_settings
from ..process import configure_logging, keep_files_private
from ..serving.supervisor import StartupError
from ..storage.metadata import migrate
from . import admin
from .serve import serve as run_server
from .startup import make_data_dir, migrated, prepare

log = logging.getLogger("berth")


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


class _Version(argparse.Action):
    """argparse's version action, with the version looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import berth

        print(f"berth {berth.__version__}")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth", description="Berth container registry")
    parser.add_argument("--version", action=_Version, help="show Berth's version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the registry server")
    _add_settings_flags(serve)
    _add_log_flags(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5000)")
    serve.add_argument("--tls", choices=("off", "self-signed"),
                       help="self-signed: HTTPS with a CA and certificate Berth makes in the "
                            "data dir (printed: how to trust it)")
    serve.add_argument("--tls-cert", help="HTTPS: the certificate chain (PEM), re-read on "
                                          "SIGHUP")
    serve.add_argument("--tls-key", help="HTTPS: the certificate's private key (PEM)")
    serve.add_argument("--trusted-proxies",
                       help="load balancers whose X-Forwarded-For/-Proto are believed "
                            "(addresses or CIDRs, comma-separated; default none)")
    serve.add_argument("--public-port", type=int,
                       help="also serve public repositories (ECR Public) on this port as "
                            "<host>:<port>/<alias>/<repository> (default: only on the host "
                            "name public.<domain>)")
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
    worker_parser.add_argument("--host", help="address the metrics port listens on "
                                              "(default 127.0.0.1)")
    worker_parser.add_argument("--metrics-port", type=int,
                               help="serve this worker's /metrics on this port (default 0: "
                                    "none)")
    db = sub.add_parser("db", help="metadata database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    _add_settings_flags(db_sub.add_parser("upgrade", help="apply schema migrations"))
    admin.add_parser(sub, _add_settings_flags)
    admin.add_verify_parser(sub, _add_settings_flags)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "db_command", "config")}
    return load_settings(flags=flags, config_file=args.config)


def worker(settings: Settings) -> int:
    from . import worker as worker_process

    try:
        prepare(settings)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return worker_process.run(settings)


def upgrade_only(settings: Settings) -> int:
    try:
        make_data_dir(settings)
        with migrated(settings) as db:
            log.info("metadata schema at %s", migrate.head_revision(db))
    except StartupError as exc:
        log.error("cannot upgrade: %s", exc)
        return 1
    return 0


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Like parse_args, but an unknown flag is reported with the usage of the subcommand it
    was given to, not the top level's."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        _innermost(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _innermost(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for i, token in enumerate(argv):
                if token in action.choices:
                    return _innermost(action.choices[token], argv[i + 1:])
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_files_private()  # before anything is created; workers inherit it
    args = parse(build_parser(), sys.argv[1:] if argv is None else argv)
    try:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
    except (ValueError, OSError) as exc:
        print(f"berth: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return run_server(settings)
    if args.command == "worker":
        return worker(settings)
    if args.command == "admin":
        return admin.run(args, settings)
    if args.command == "verify":
        return admin.run_verify(args, settings)
    if args.command == "db" and args.db_command == "upgrade":
        return upgrade_only(settings)
    return 2
