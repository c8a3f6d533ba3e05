"""Usage for cost reports: storage sampled daily per repository (one row per day, repository
and storage class) and bytes pulled per repository and day, inside and outside the
deployment's networks. Rows name the account, region and repository rather than their ids, so
that a deleted repository's past usage stays reportable.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _name() -> sa.String:
    return sa.String(256).with_variant(sa.String(256, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "usage_storage_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("repository", _name(), primary_key=True),
        sa.Column("storage_class", sa.String(16), primary_key=True,
                  server_default="standard"),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("objects", sa.BigInteger, nullable=False),
        sa.Column("sampled_at", sa.Float, nullable=False),
    )
    op.create_table(
        "usage_transfer_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("repository", _name(), primary_key=True),
        sa.Column("bytes_inside", sa.BigInteger, nullable=False),
        sa.Column("bytes_outside", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_transfer_daily")
    op.drop_table("usage_storage_daily")
