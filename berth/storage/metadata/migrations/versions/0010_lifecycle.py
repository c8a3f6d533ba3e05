"""Lifecycle policies (berth/lifecycle): a policy per repository, its latest preview with the
images it would act on, the archive state of images, and the principals whose pulls are not
recorded as pull times.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _repository() -> sa.Column:
    return sa.Column("repository_id", sa.Integer,
                     sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(sa.Column("image_status", sa.String(16), nullable=False,
                                   server_default="ACTIVE"))
        batch.add_column(sa.Column("last_archived_at", sa.Float))
        batch.add_column(sa.Column("last_activated_at", sa.Float))
    op.create_table(
        "lifecycle_policies", _repository(),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_evaluated_at", sa.Float),
    )
    op.create_table(
        "lifecycle_previews", _repository(),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("expiring", sa.Integer, nullable=False, server_default="0"),
        sa.Column("transitioning", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(500)),
    )
    op.create_table(
        "lifecycle_preview_results", _repository(),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("pushed_at", sa.Float, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("storage_class", sa.String(16), nullable=False),
    )
    op.create_table(
        "pull_time_exclusions",
        sa.Column("registry_id", sa.Integer, primary_key=True),
        sa.Column("principal_arn", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("pull_time_exclusions", "lifecycle_preview_results", "lifecycle_previews",
                  "lifecycle_policies"):
        op.drop_table(table)
    for column in ("last_activated_at", "last_archived_at", "image_status"):
        with op.batch_alter_table("manifests") as batch:
            batch.drop_column(column)
