"""Experiments: their specs and state, each evaluation's look and decision, and the experiment and
arm on every outcome row that was assigned one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outcomes", sa.Column("experiment", sa.String(length=64), nullable=True))
    op.add_column("outcomes", sa.Column("experiment_arm", sa.String(length=64), nullable=True))
    # Per-arm totals are one GROUP BY over this index; rows outside experiments are NULL here
    # and never read by it.
    op.create_index(
        "ix_outcomes_experiment_arm",
        "outcomes",
        ["experiment", "experiment_arm", "latency_bucket"],
    )
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("route", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("winner", sa.String(length=64), nullable=True),
        sa.Column("ended_reason", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_experiments_route", "experiments", ["route"])
    op.create_table(
        "experiment_looks",
        sa.Column("experiment", sa.String(length=64), primary_key=True),
        sa.Column("evaluation", sa.String(length=200), primary_key=True),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "experiment_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("evaluation", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("experiment", "evaluation"),
    )
    op.create_index("ix_experiment_decisions_experiment", "experiment_decisions", ["experiment"])


def downgrade() -> None:
    op.drop_table("experiment_decisions")
    op.drop_table("experiment_looks")
    op.drop_table("experiments")
    op.drop_index("ix_outcomes_experiment_arm", table_name="outcomes")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    op.execute("ALTER TABLE outcomes DROP COLUMN experiment_arm")
    op.execute("ALTER TABLE outcomes DROP COLUMN experiment")
