"""Budgets: a tenant's spending limit per day or month, what each window has spent and reserved,
and each request's reservation.

Amounts are integers in billionths of a US dollar, so sums are exact and a budget's check
(spent + reserved + this request's worst case <= limit) never passes by a rounding error.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("route", sa.String(length=128), primary_key=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("limit_nusd", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "budget_usage",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("route", sa.String(length=128), primary_key=True),
        sa.Column("window", sa.String(length=16), primary_key=True),
        sa.Column("reserved_nusd", sa.BigInteger(), nullable=False),
        sa.Column("spent_nusd", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("request_id", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("reserved_nusd", sa.BigInteger(), nullable=False),
        sa.Column("charges", sa.JSON(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_budget_reservations_open",
        "budget_reservations",
        ["tenant_id", "settled_at", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_budget_reservations_open", table_name="budget_reservations")
    op.drop_table("budget_reservations")
    op.drop_table("budget_usage")
    op.drop_table("budgets")
