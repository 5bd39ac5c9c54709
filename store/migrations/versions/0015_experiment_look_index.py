"""Experiment looks at scale: the experiments' index on outcomes made covering and partial (a
look over millions of rows reads the index alone, and rows outside experiments are not in it),
and each rating's experiment and arm kept with it (an experiment's ratings are read from the
feedback table alone).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# What a look aggregates (store/rollout_stats.py), written out: a migration keeps its own copy.
COLUMNS = [
    "experiment",
    "experiment_arm",
    "latency_bucket",
    "arm",
    "status",
    "cost_usd",
    "quality_score",
    "json_valid",
    "tool_calls_valid",
    "refused",
    "answer_chars",
]
IN_AN_EXPERIMENT = sa.text("experiment IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_outcomes_experiment_arm", table_name="outcomes")
    op.create_index(
        "ix_outcomes_experiment_arm",
        "outcomes",
        COLUMNS,
        sqlite_where=IN_AN_EXPERIMENT,
        postgresql_where=IN_AN_EXPERIMENT,
    )
    op.add_column("feedback", sa.Column("experiment", sa.String(length=64), nullable=True))
    op.add_column("feedback", sa.Column("experiment_arm", sa.String(length=64), nullable=True))
    op.create_index("ix_feedback_experiment_arm", "feedback", ["experiment", "experiment_arm"])


def downgrade() -> None:
    op.drop_index("ix_feedback_experiment_arm", table_name="feedback")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    op.execute("ALTER TABLE feedback DROP COLUMN experiment_arm")
    op.execute("ALTER TABLE feedback DROP COLUMN experiment")
    op.drop_index("ix_outcomes_experiment_arm", table_name="outcomes")
    op.create_index(
        "ix_outcomes_experiment_arm", "outcomes", ["experiment", "experiment_arm", "latency_bucket"]
    )
