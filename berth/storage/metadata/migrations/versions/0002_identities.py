"""Accounts, users, access keys, policies, token signing keys and one registry per account and
region; repositories and uploads belong to a registry.

Repositories and uploads from before this revision get registry_id 0, which the start-up
bootstrap reassigns to the default registry (the migration cannot know the account).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _name(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "name"),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id")),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("tokens_valid_after", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float),
    )
    op.create_table(
        "user_policies",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "generations",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("policy", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "region"),
    )
    _scope_repositories()
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("registry_id", sa.Integer, nullable=False,
                                   server_default="0"))


def _scope_repositories() -> None:
    """Repository names become unique per registry instead of globally."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop the unnamed UNIQUE(name): rebuild the table from its old shape
        # minus that constraint (migrate.py turns foreign keys off around this).
        old = sa.Table("repositories", sa.MetaData(),
                       sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                       sa.Column("name", _name(256), nullable=False),
                       sa.Column("created_at", sa.Float, nullable=False))
        context = op.batch_alter_table("repositories", recreate="always", copy_from=old)
    else:
        op.drop_constraint("repositories_name_key", "repositories", type_="unique")
        context = op.batch_alter_table("repositories")
    with context as batch:
        batch.add_column(sa.Column("registry_id", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("policy", sa.Text))
        batch.create_unique_constraint("uq_repositories_registry_name", ["registry_id", "name"])


def downgrade() -> None:
    raise NotImplementedError("identities cannot be removed without losing them")
