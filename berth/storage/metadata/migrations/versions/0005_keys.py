"""Encryption at rest: key-encryption keys with their versions, and the key each repository's
blobs (and each upload) are sealed with.

Repositories and uploads from before this revision get the key ref "": their blobs were
stored as they are and stay readable so.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "encryption_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id")),
        sa.Column("region", sa.String(32)),
        sa.Column("alias", sa.String(256)),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "region", "alias"),
    )
    op.create_table(
        "encryption_key_versions",
        sa.Column("key_id", sa.String(36), sa.ForeignKey("encryption_keys.id"),
                  primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("material", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    for table in ("repositories", "uploads"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("key_ref", sa.String(64), nullable=False,
                                       server_default=""))


def downgrade() -> None:
    for table in ("uploads", "repositories"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("key_ref")
    op.drop_table("encryption_key_versions")
    op.drop_table("encryption_keys")
