"""Repository settings the ECR API manages (tag mutability with exclusions, scan on push,
encryption), repository tags, and registry-wide settings.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("tag_mutability", sa.String(40), nullable=False,
                                   server_default="MUTABLE"))
        batch.add_column(sa.Column("mutability_exclusions", sa.Text))
        batch.add_column(sa.Column("scan_on_push", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("encryption_type", sa.String(16), nullable=False,
                                   server_default="AES256"))
        batch.add_column(sa.Column("kms_key", sa.String(2048)))
    op.create_table(
        "repository_tags",
        sa.Column("repository_id", sa.Integer,
                  sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("registries") as batch:
        batch.add_column(sa.Column("settings", sa.Text))


def downgrade() -> None:
    op.drop_table("repository_tags")
    with op.batch_alter_table("registries") as batch:
        batch.drop_column("settings")
    for column in ("kms_key", "encryption_type", "scan_on_push", "mutability_exclusions",
                   "tag_mutability"):
        with op.batch_alter_table("repositories") as batch:
            batch.drop_column(column)
