"""IAM roles with their trust and inline policies, the temporary credentials STS issues, and
the OpenID Connect providers web identities federate from (berth/iam/roles.py, sessions.py,
federation.py), and service quota overrides (berth/quotas).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("trust_policy", sa.Text, nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("max_session_seconds", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "name"),
    )
    op.create_table(
        "role_policies",
        sa.Column("role_id", sa.String(32), sa.ForeignKey("roles.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "sts_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("role_id", sa.String(32), sa.ForeignKey("roles.id", ondelete="CASCADE")),
        sa.Column("user_id", sa.String(32)),
        sa.Column("session_name", sa.String(64)),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sts_sessions_expires_at", "sts_sessions", ["expires_at"])
    op.create_table(
        "oidc_providers",
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("url", sa.String(255), primary_key=True),
        sa.Column("scheme", sa.String(8), nullable=False),
        sa.Column("client_ids", sa.Text, nullable=False),
        sa.Column("thumbprints", sa.Text, nullable=False),
        sa.Column("jwks", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )


    with op.batch_alter_table("uploads") as batch:  # ECR API layer parts, counted
        batch.add_column(sa.Column("parts", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "quotas",
        sa.Column("scope", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quotas")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("parts")
    op.drop_table("oidc_providers")
    op.drop_index("ix_sts_sessions_expires_at", "sts_sessions")
    op.drop_table("sts_sessions")
    op.drop_table("role_policies")
    op.drop_table("roles")
