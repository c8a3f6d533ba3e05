"""Schema migrations with Alembic, run from code (``berth db upgrade`` and at start-up).

Alembic is loaded only when there is something to migrate: a schema already at the head (every
start but the first after an upgrade) is recognised by one query and the migrations' own
``revision`` lines, which saves each start and each ``berth`` command ~0.4 s and every server
process ~10 MB."""
from __future__ import annotations

import re
from functools import cache
from importlib import resources

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database import Database

_REVISION = re.compile(r'^(down_revision|revision) = "(\w+)"', re.MULTILINE)


def _config(db: Database):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "berth.storage.metadata:migrations")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    head = head_from_files() if revision == "head" else None
    if head is not None and current_revision(db) == head:
        return
    from alembic import command

    cfg = _config(db)
    with db.engine.connect() as conn:
        if db.is_sqlite:
            # SQLite rebuilds tables to alter them; with foreign keys on, dropping the old
            # table would cascade-delete its children. Off outside the transaction, checked
            # inside it before commit (SQLite's documented procedure).
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # end SQLAlchemy's autobegun (empty) transaction
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if db.is_sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if db.is_sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def current_revision(db: Database) -> str | None:
    """The schema's revision as Alembic recorded it (None: none recorded)."""
    try:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:  # no such table yet
        return None


@cache
def head_from_files() -> str | None:
    """The one revision no migration names as its ``down_revision`` (None: not exactly one,
    and Alembic decides)."""
    revisions, parents = set(), set()
    folder = resources.files("berth.storage.metadata") / "migrations" / "versions"
    for entry in folder.iterdir():
        if entry.name.endswith(".py"):
            for kind, value in _REVISION.findall(entry.read_text()):
                (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def head_revision(db: Database) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(db)).get_current_head()
