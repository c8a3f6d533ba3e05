"""Initial schema: repositories, blobs, manifests, tags, uploads, leases.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _name(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _repository_fk() -> sa.Column:
    return sa.Column("repository_id", sa.Integer,
                     sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", _name(256), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "repository_blobs",
        _repository_fk(),
        sa.Column("digest", sa.String(200), sa.ForeignKey("blobs.digest"), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "manifests",
        _repository_fk(),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("artifact_type", sa.String(255)),
        sa.Column("subject_digest", sa.String(200)),
        sa.Column("config_digest", sa.String(200)),
        sa.Column("config_media_type", sa.String(255)),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("total_size", sa.BigInteger, nullable=False),
        sa.Column("annotations", sa.Text),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("pushed_at", sa.Float, nullable=False),
        sa.Column("last_pulled_at", sa.Float),
    )
    op.create_index("ix_manifests_subject", "manifests", ["repository_id", "subject_digest"])
    op.create_table(
        "manifest_references",
        _repository_fk(),
        sa.Column("parent_digest", sa.String(200), primary_key=True),
        sa.Column("child_digest", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_index("ix_manifest_references_child", "manifest_references",
                    ["repository_id", "child_digest"])
    op.create_table(
        "tags",
        _repository_fk(),
        sa.Column("name", _name(128), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tags_digest", "tags", ["repository_id", "digest"])
    op.create_index("ix_tags_order", "tags", ["repository_id", sa.text("lower(name)"), "name"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("repository", _name(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("driver_state", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_uploads_updated_at", "uploads", ["updated_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "uploads", "tags", "manifest_references", "manifests",
                  "repository_blobs", "blobs", "repositories"):
        op.drop_table(table)
