"""Repository creation templates (berth/registry/repositories/templates.py). A push creates a
repository only where a CREATE_ON_PUSH template allows it: registries that created on push
before (the createOnPush setting, on unless turned off) get a ROOT template saying so.

Revision ID: 0013
Revises: 0012
"""
import json
import time

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_LEGACY = {"prefix": "ROOT", "appliedFor": ["CREATE_ON_PUSH"],
           "description": "Create on push, as this registry did before templates"}


def upgrade() -> None:
    table = op.create_table(
        "creation_templates",
        sa.Column("registry_id", sa.Integer, primary_key=True),
        sa.Column("prefix", sa.String(256), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    conn = op.get_bind()
    registries = sa.table("registries", sa.column("id"), sa.column("settings"))
    now = time.time()
    for registry_id, text in conn.execute(sa.select(registries.c.id, registries.c.settings)):
        settings = json.loads(text) if text else {}
        if settings.pop("createOnPush", True):
            conn.execute(table.insert().values(registry_id=registry_id, prefix="ROOT",
                                               document=json.dumps(_LEGACY),
                                               created_at=now, updated_at=now))
        if text:
            conn.execute(registries.update().where(registries.c.id == registry_id).values(
                settings=json.dumps(settings) if settings else None))


def downgrade() -> None:
    op.drop_table("creation_templates")
