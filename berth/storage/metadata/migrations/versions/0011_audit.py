"""The audit trail (berth/audit): CloudTrail's record of each API call, registry request and
lifecycle action.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("principal_arn", sa.String(256), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(256), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("parameters", sa.Text),
        sa.Column("error_code", sa.String(64)),
        sa.Column("request_id", sa.String(128), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_audit_events_name", "audit_events", ["name", "time"])
    op.create_index("ix_audit_events_principal", "audit_events", ["principal_arn", "time"])
    op.create_index("ix_audit_events_resource", "audit_events", ["resource", "time"])


def downgrade() -> None:
    op.drop_table("audit_events")
