"""Replication (berth/replication): a task per image pushed (or backfilled) and destination it
goes to; backfills.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replication_tasks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("registry_id", sa.Integer, nullable=False),
        sa.Column("repository", sa.String(256), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("tag", sa.String(300)),
        sa.Column("action", sa.String(16), nullable=False, server_default="copy"),
        sa.Column("dest_region", sa.String(32), nullable=False),
        sa.Column("dest_account", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(500)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("backfill_id", sa.String(36)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_replication_tasks_image", "replication_tasks",
                    ["registry_id", "repository", "digest"])
    op.create_index("ix_replication_tasks_lane", "replication_tasks",
                    ["registry_id", "repository", "dest_region", "dest_account", "status", "id"])
    op.create_index("ix_replication_tasks_backfill", "replication_tasks", ["backfill_id", "id"])
    op.create_table(
        "replication_backfills",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("registry_id", sa.Integer, nullable=False),
        sa.Column("dest_region", sa.String(32), nullable=False),
        sa.Column("dest_account", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(200)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_replication_backfills_registry", "replication_backfills",
                    ["registry_id", "started_at"])


def downgrade() -> None:
    op.drop_table("replication_backfills")
    op.drop_table("replication_tasks")
