"""Image signing (berth/signing): each account's signing CA, signing profiles, and each
image's signing status per profile.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_cas",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("private_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "signing_profiles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("private_key", sa.LargeBinary, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("validity_seconds", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.UniqueConstraint("account_id", "region", "name"),
    )
    op.create_table(
        "image_signing",
        sa.Column("repository_id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(100), primary_key=True),
        sa.Column("profile_arn", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("failure_reason", sa.String(1000)),
        sa.Column("signature_digest", sa.String(100)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_signing")
    op.drop_table("signing_profiles")
    op.drop_table("signing_cas")
