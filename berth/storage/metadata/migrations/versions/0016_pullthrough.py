"""Pull-through caches (berth/pullthrough): rules per registry, and the references each cache
asked its upstream for (tags' last check, manifests fetched and not yet imported), and the
blobs being fetched (one fetch per blob across nodes).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _name(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pullthrough_rules",
        sa.Column("registry_id", sa.Integer, primary_key=True),
        sa.Column("prefix", sa.String(64), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "pullthrough_refs",
        sa.Column("registry_id", sa.Integer, primary_key=True),
        sa.Column("repository", _name(256), primary_key=True),
        sa.Column("reference", sa.String(300), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(256), nullable=False),
        sa.Column("content", sa.LargeBinary),
        sa.Column("checked_at", sa.Float, nullable=False),
    )
    op.create_table(
        "pullthrough_fetches",
        sa.Column("registry_id", sa.Integer, primary_key=True),
        sa.Column("repository", _name(256), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pullthrough_fetches")
    op.drop_table("pullthrough_refs")
    op.drop_table("pullthrough_rules")
