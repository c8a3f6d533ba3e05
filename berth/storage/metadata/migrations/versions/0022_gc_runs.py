"""Garbage collection runs an operator started (berth.gc.runs), with their reports.

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gc_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("report", sa.Text),
    )
    op.create_index("ix_gc_runs_requested_at", "gc_runs", ["requested_at"])


def downgrade() -> None:
    op.drop_table("gc_runs")
