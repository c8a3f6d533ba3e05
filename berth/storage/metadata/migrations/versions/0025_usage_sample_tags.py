"""A daily storage sample keeps the repository's resource tags of that day (JSON, key -> value):
cost allocation tags apply per day, so a report by tag groups each day by the tags the
repository had then. NULL in rows sampled before this revision: reports use the tags now.

Revision ID: 0025
Revises: 0024
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_storage_daily") as batch:
        batch.add_column(sa.Column("tags", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("usage_storage_daily") as batch:
        batch.drop_column("tags")
