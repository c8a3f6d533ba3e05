"""Outbox delivery and webhook dispatch are no longer queued jobs (berth/jobs/watch.py): the
periodic jobs' rows still waiting or held would stay so forever, as no node claims their kinds
any more. Finished ones are pruned as usual.

Revision ID: 0024
Revises: 0023
"""
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM jobs WHERE state IN ('queued', 'running') "
                "AND (kind LIKE 'events:%' OR kind = 'notifications-deliver')")


def downgrade() -> None:
    pass  # nodes of the older version queue them again themselves
