"""Event notifications: webhook targets per account (URL, EventBridge pattern, sealed HMAC
secret) and their deliveries, one row per event and target, sent in order per target and
repository, retried with backoff, dead-lettered after the last attempt.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_targets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("secret", sa.LargeBinary),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "name"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("target_id", sa.String(32),
                  sa.ForeignKey("notification_targets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("repository", sa.String(256).with_variant(
            sa.String(256, collation="C"), "postgresql"), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_notification_deliveries_queue", "notification_deliveries",
                    ["target_id", "state", "seq"])


def downgrade() -> None:
    op.drop_index("ix_notification_deliveries_queue", "notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_targets")
