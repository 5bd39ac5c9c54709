"""Route variants may carry a system prompt, sent first in every request the variant answers.

A prompt change is then a variant like any other: published as a new route version and rolled
out, judged and rolled back the way a model change is. Existing variants have none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_variants", sa.Column("system_prompt", sa.Text(), nullable=True))


def downgrade() -> None:
    # In place, as 0004 does: a batch copy of the table would trip its foreign keys on SQLite.
    op.execute("ALTER TABLE route_variants DROP COLUMN system_prompt")
