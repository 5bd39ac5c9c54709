"""Service level objectives on route versions, and where each burn-rate alert stands.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_versions", sa.Column("slos", sa.JSON(), nullable=True))
    op.create_table(
        "slo_alerts",
        sa.Column("route", sa.String(length=128), primary_key=True),
        sa.Column("slo", sa.String(length=64), primary_key=True),
        sa.Column("severity", sa.String(length=8), primary_key=True),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("long_burn", sa.Float(), nullable=False),
        sa.Column("short_burn", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slo_alerts")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    op.execute("ALTER TABLE route_versions DROP COLUMN slos")
