"""Which reader made each layer inventory: a row of an older reader is read again, so that
package detectors added later see the layers scanned before them.

Revision ID: 0027
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("layer_inventories") as batch:
        batch.add_column(sa.Column("reader", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("layer_inventories") as batch:
        batch.drop_column("reader")
