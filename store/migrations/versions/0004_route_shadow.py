"""Route versions may carry a shadow target: a rollout's candidate answering a sample of the
route's requests in the background, never to a client.

It lives on the version, like the variants and the guardrail policy, so the outcomes of a shadow
stage trace back to the exact configuration that produced them. Existing versions have none.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_versions", sa.Column("shadow", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies the table, which route_variants' foreign key
    # forbids; both databases drop a plain column in place (SQLite since 3.35).
    op.execute("ALTER TABLE route_versions DROP COLUMN shadow")
