"""ECR API layer parts' sizes: the last part's, and how many parts under ECR's minimum were
followed by another (CompleteLayerUpload refuses those: LayerPartTooSmallException).

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("last_part", sa.BigInteger, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("small_parts", sa.Integer, nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("small_parts")
        batch.drop_column("last_part")
