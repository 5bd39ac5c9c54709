"""The response cache: a route version's cache policy, and the answers kept (when Redis is not
configured as the cache's store).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_versions", sa.Column("cache", sa.JSON(), nullable=True))
    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_response_cache_expires_at", "response_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_response_cache_expires_at", table_name="response_cache")
    op.drop_table("response_cache")
    # In place, as 0004 does: a batch copy would trip route_variants' foreign key on SQLite.
    op.execute("ALTER TABLE route_versions DROP COLUMN cache")
