"""Circuit breakers per provider and model, shared by every gateway on the store, and an index
that lets the breakers read the last seconds of outcomes without scanning the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circuit_breakers",
        sa.Column("provider", sa.String(length=64), primary_key=True),
        sa.Column("model", sa.String(length=256), primary_key=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("probes_left", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_outcomes_finished_provider", "outcomes", ["finished_at", "provider", "model"]
    )


def downgrade() -> None:
    op.drop_index("ix_outcomes_finished_provider", table_name="outcomes")
    op.drop_table("circuit_breakers")
