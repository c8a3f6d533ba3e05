"""Before any process serves or works: every setting that can be checked is checked, each
failure one line naming the setting, and the database is migrated and bootstrapped."""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Iterator

from ..config import Settings
from ..iam.service import UnknownRegistry
from ..iam.wiring import open_iam
from ..keys.master import MasterKeyError
from ..serving.supervisor import StartupError
from ..storage.blobs import open_driver
from ..storage.metadata import migrate
from ..storage.metadata.database import Database

log = logging.getLogger("berth")

SUPPORTED_DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Started:
    """What the start found: the administrator account, and whether this start made it."""
    admin_account: str
    first_start: bool


def redacted(url: str) -> str:
    """A URL fit for a log: any password replaced."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url.split("@")[-1].split("?")[0]
    # libpq also takes a password as a query parameter (?password=...).
    query = {k: ("***" if "password" in k.lower() else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def prepare(settings: Settings) -> Started:
    """Storage reachable, schema migrated, administrator made (StartupError otherwise)."""
    make_data_dir(settings)
    check_storage(settings)
    with migrated(settings) as db:
        started = _bootstrap(settings, db)
    log.info("metadata: %s", redacted(settings.database_url))
    log.info("blobs: %s", settings.storage_url)
    return started


def make_data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data_dir: cannot create {settings.data_dir}: {exc.strerror}") \
            from exc


def check_storage(settings: Settings) -> None:
    try:
        driver = open_driver(settings)
    except ValueError as exc:
        raise StartupError(f"storage: {exc}") from exc
    except OSError as exc:  # a filesystem driver makes its directories as it opens
        raise StartupError(f"storage: {settings.storage_url} cannot be used: "
                           f"{_first_line(exc)}") from exc
    try:
        driver.check()
    except Exception as exc:  # any driver's own failure (OSError, botocore's, ...)
        raise StartupError(f"storage: {settings.storage_url} cannot be used: "
                           f"{_first_line(exc)}") from exc
    finally:
        driver.close()


@contextlib.contextmanager
def migrated(settings: Settings) -> Iterator[Database]:
    """The metadata database with the schema migrated, disposed of afterwards (StartupError:
    it cannot be reached or used)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    db = None
    try:
        try:
            if make_url(settings.database_url).get_backend_name() not in SUPPORTED_DATABASES:
                raise StartupError(f"database: {redacted(settings.database_url)} is not a "
                                   "SQLite or PostgreSQL URL (sqlite:///PATH, postgresql://...)")
            db = Database(settings.database_url)
            migrate.upgrade(db)
        except (SQLAlchemyError, ValueError) as exc:  # ValueError: make_url's, a bad port
            reason = _first_line(getattr(exc, "orig", None) or exc)
            raise StartupError(f"database: {redacted(settings.database_url)} cannot be used: "
                               f"{reason}") from exc
        yield db
    finally:
        if db is not None:
            db.dispose()


def _bootstrap(settings: Settings, db: Database) -> Started:
    """Create the administrator (first start) before workers start, so they find it."""
    try:
        iam = open_iam(settings, db)
    except (MasterKeyError, UnknownRegistry, ValueError) as exc:
        raise StartupError(str(exc)) from exc
    return Started(iam.administrator.id, iam.first_start)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def start_metrics_server(settings: Settings):
    """The scrape on its own port (a thread), if one is set; None otherwise."""
    if not (settings.metrics and settings.metrics_port):
        return None
    from ..api.metrics import start_server

    log.info("metrics on http://%s:%d/metrics%s", settings.host, settings.metrics_port,
             " (anonymous)" if settings.metrics_anonymous else "")
    return start_server(settings, lambda: open_iam(settings, Database(settings.database_url)))
