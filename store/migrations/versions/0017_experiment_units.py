"""Experiment units on outcomes: a digest of the unit each request was assigned by (its user or
header value, never the value itself), so an experiment split by user checks its split on users
rather than on requests (a few heavy users skew request counts), with a partial index that lets
a look count each arm's distinct units from the index alone.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

IN_AN_EXPERIMENT = sa.text("experiment IS NOT NULL")


def upgrade() -> None:
    op.add_column("outcomes", sa.Column("experiment_unit", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_outcomes_experiment_unit",
        "outcomes",
        ["experiment", "experiment_arm", "experiment_unit"],
        sqlite_where=IN_AN_EXPERIMENT,
        postgresql_where=IN_AN_EXPERIMENT,
    )


def downgrade() -> None:
    op.drop_index("ix_outcomes_experiment_unit", table_name="outcomes")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    op.execute("ALTER TABLE outcomes DROP COLUMN experiment_unit")
