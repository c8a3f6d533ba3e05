"""What each node's rate buckets admitted, per bucket key and sync, kept a minute: the other
nodes take it from their buckets too, so a rate holds for the deployment, not per node.

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_takes",
        sa.Column("node", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("key_hash", sa.BigInteger, primary_key=True),
        sa.Column("taken", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_takes_at", "rate_takes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_rate_takes_at", "rate_takes")
    op.drop_table("rate_takes")
