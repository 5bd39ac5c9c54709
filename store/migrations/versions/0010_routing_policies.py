"""Routing policies: a route version's policy and constraints, and on each outcome why its
variant was chosen.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_versions", sa.Column("routing", sa.JSON(), nullable=True))
    op.add_column("outcomes", sa.Column("routing_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    # In place, as 0004 does: batch copies would trip the foreign keys on SQLite.
    op.execute("ALTER TABLE outcomes DROP COLUMN routing_reason")
    op.execute("ALTER TABLE route_versions DROP COLUMN routing")
