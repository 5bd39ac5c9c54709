"""End users on outcomes, as a keyed hash, and the installation's secrets (the hash's key).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outcomes", sa.Column("user_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "installation_secrets",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("installation_secrets")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    op.execute("ALTER TABLE outcomes DROP COLUMN user_hash")
