"""Sealed secrets (berth/secrets): per account, region and name, the value sealed with the
master key and the suffix its ARN keeps.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("suffix", sa.String(6), nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("secrets")
