"""Public registries (berth/public): each account's alias and display name, and each public
repository's catalog data.

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_registries",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("alias", sa.String(50), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("logo", sa.LargeBinary),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "public_catalogs",
        sa.Column("repository_id", sa.Integer,
                  sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("logo", sa.LargeBinary),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("public_catalogs")
    op.drop_table("public_registries")
