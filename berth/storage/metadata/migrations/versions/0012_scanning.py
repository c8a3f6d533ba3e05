"""Vulnerability scanning (berth/scanning): images' scans and findings, layers' package
inventories, and the OSV advisories they are matched against.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_scans",
        sa.Column("repository_id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("scan_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("completed_at", sa.Float),
        sa.Column("source_updated_at", sa.Float),
        sa.Column("counts", sa.Text),
        sa.Column("continuous", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(["repository_id", "digest"],
                                ["manifests.repository_id", "manifests.digest"],
                                ondelete="CASCADE"),
    )
    op.create_table(
        "scan_findings",
        sa.Column("repository_id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_observed_at", sa.Float, nullable=False),
        sa.Column("last_observed_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["repository_id", "digest"],
                                ["image_scans.repository_id", "image_scans.digest"],
                                ondelete="CASCADE"),
    )
    op.create_table(
        "layer_inventories",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("content", sa.LargeBinary),
        sa.Column("error", sa.String(500)),
    )
    op.create_table(
        "vulnerabilities",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("modified", sa.Float, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "vulnerable_packages",
        sa.Column("vuln_id", sa.String(128),
                  sa.ForeignKey("vulnerabilities.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("ecosystem", sa.String(128), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
    )
    op.create_index("ix_vulnerable_packages_name", "vulnerable_packages", ["ecosystem", "name"])
    op.create_table(
        "vulnerability_sources",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("vulnerability_sources", "vulnerable_packages", "vulnerabilities",
                  "layer_inventories", "scan_findings", "image_scans"):
        op.drop_table(table)
