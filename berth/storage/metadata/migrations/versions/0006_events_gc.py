"""The outbox of domain events with subscriber cursors, and what garbage collection needs:
stored objects keyed by key ref and digest with an "unreferenced since" time, and blob links
that carry their size and their own "unreferenced since" time.

Objects from before this revision are the (key ref, digest) pairs some repository links;
blob rows nothing linked are dropped here, and their files, which no row knows now, are
found by the storage walk of the next sweep.

Revision ID: 0006
Revises: 0005
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("registry_id", sa.Integer, nullable=False),
        sa.Column("repository", sa.String(256).with_variant(
            sa.String(256, collation="C"), "postgresql")),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "event_cursors",
        sa.Column("subscriber", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "blob_objects",
        sa.Column("key_ref", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("unreferenced_since", sa.Float),
    )
    op.create_table(
        "blob_links",
        sa.Column("repository_id", sa.Integer,
                  sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("unreferenced_since", sa.Float),
    )
    now = time.time()
    op.execute(
        "INSERT INTO blob_objects (key_ref, digest, size, created_at) "
        "SELECT r.key_ref, b.digest, MAX(b.size), MIN(b.created_at) FROM blobs b "
        "JOIN repository_blobs rb ON rb.digest = b.digest "
        "JOIN repositories r ON r.id = rb.repository_id GROUP BY r.key_ref, b.digest")
    # A link no manifest lists starts its grace period now.
    op.execute(
        "INSERT INTO blob_links (repository_id, digest, size, created_at, unreferenced_since) "
        f"SELECT rb.repository_id, rb.digest, b.size, rb.created_at, "
        f"CASE WHEN EXISTS (SELECT 1 FROM manifest_references m "
        f"WHERE m.repository_id = rb.repository_id AND m.child_digest = rb.digest) "
        f"THEN NULL ELSE {now!r} END "
        "FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest")
    op.drop_table("repository_blobs")
    op.drop_table("blobs")
    op.rename_table("blob_objects", "blobs")
    op.rename_table("blob_links", "repository_blobs")
    op.create_index("ix_repository_blobs_digest", "repository_blobs", ["digest"])


def downgrade() -> None:
    raise NotImplementedError("0006 cannot be undone: restore a backup taken before it")
