"""Repository ids are never reused on SQLite: the table is rebuilt with AUTOINCREMENT, so an
outbox event of a deleted repository cannot be applied to a later one that got its id.
PostgreSQL's sequences never reuse ids: nothing to do there.

Revision ID: 0021
Revises: 0020
"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # A copy, the old table dropped, the copy renamed: every column, default and constraint
    # as reflected. migrate.py turns foreign keys off around this, so dropping the old table
    # cascades to nothing, and the children still reference "repositories".
    with op.batch_alter_table("repositories", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}):
        pass
    _seed_sequence(bind)


def _seed_sequence(bind) -> None:
    """Start past every id in use, and past any id an event still waiting in the outbox
    names (its repository may be gone, its id the highest ever given)."""
    highest = bind.exec_driver_sql(
        "SELECT max(coalesce((SELECT max(id) FROM repositories), 0), coalesce(("
        "SELECT max(CAST(json_extract(payload, '$.repositoryId') AS INTEGER)) FROM events "
        "WHERE json_valid(payload)), 0))").scalar()
    bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'repositories'")
    bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('repositories', ?)",
                         (highest,))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("repositories", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}):
            pass
