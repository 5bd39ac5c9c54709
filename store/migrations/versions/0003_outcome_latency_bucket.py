"""Rollouts: a latency bucket on every outcome row, and the looks and decisions of each rollout.

A rollout compares a route's variants look after look, with statistics aggregated in SQL. Latency
is compared through fixed log-spaced histograms (experiments.statistics); storing each row's
bucket makes a histogram a GROUP BY that both SQLite and PostgreSQL can run, where computing the
logarithm in SQL could not be made to agree with Python's to the bit.

Existing rows keep a NULL bucket: they predate rollouts, so no rollout reads them, and the
histogram query skips NULL buckets anyway.

rollout_looks keeps the statistics read at each look, so a decision can be replayed and a step's
history drawn; rollout_decisions is the audit trail of what a rollout did and why. Both are keyed
so that a retried activity writes its look or decision once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outcomes", sa.Column("latency_bucket", sa.Integer(), nullable=True))
    op.create_table(
        "rollout_looks",
        sa.Column("rollout_id", sa.String(length=200), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("look", sa.Integer(), nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rollout_id", "step", "look"),
    )
    op.create_table(
        "rollout_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.String(length=200), nullable=False),
        sa.Column("route", sa.String(length=128), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("look", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rollout_id", "step", "look", "action"),
    )


def downgrade() -> None:
    op.drop_table("rollout_decisions")
    op.drop_table("rollout_looks")
    # SQLite drops a column by copying the table (batch mode).
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("latency_bucket")
