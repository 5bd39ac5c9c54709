"""Quality signals: the automatic scores on outcome rows, people's feedback on answers, and a
judge model's pairwise comparisons of two arms' answers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SCORES = (
    ("json_valid", sa.Boolean()),
    ("tool_calls_valid", sa.Boolean()),
    ("refused", sa.Boolean()),
    ("answer_chars", sa.Integer()),
)


def upgrade() -> None:
    for name, kind in SCORES:
        op.add_column("outcomes", sa.Column(name, kind, nullable=True))
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "judgements",
        sa.Column("request_id", sa.String(length=64), primary_key=True),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("opponent", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("first_order", sa.String(length=8), nullable=False),
        sa.Column("second_order", sa.String(length=8), nullable=False),
        sa.Column("judge_model", sa.String(length=256), nullable=False),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_judgements_experiment_arm", "judgements", ["experiment", "arm", "opponent"])


def downgrade() -> None:
    op.drop_table("judgements")
    op.drop_table("feedback")
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    for name, _ in reversed(SCORES):
        op.execute(f"ALTER TABLE outcomes DROP COLUMN {name}")
