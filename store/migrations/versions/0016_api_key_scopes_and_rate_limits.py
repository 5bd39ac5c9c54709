"""API keys get scopes and an optional request rate limit (a token bucket per key).

Scopes: `inference` (chat completions, models, feedback) and `admin`. Every key made before
this revision could call the inference endpoints and nothing else (the gateway had no admin
endpoint; the codec endpoint has its own token), so existing keys get `inference` only: they
keep exactly what they could do, and no key issued before admin endpoints existed is granted
them by an upgrade. New keys default to `inference` too.

Rate limits: null for existing keys, which stay unlimited. The bucket's state (tokens left and
when they were counted) lives on the row for gateways that share no Redis.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RATE_LIMIT_COLUMNS = (
    ("rate_limit_per_second", sa.Float()),
    ("rate_limit_burst", sa.Integer()),
    ("bucket_tokens", sa.Float()),
    ("bucket_counted_at", sa.Float()),
)


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("scopes", sa.String(length=64), nullable=False, server_default="inference"),
    )
    for name, kind in RATE_LIMIT_COLUMNS:
        op.add_column("api_keys", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # In place, as 0004 does: a batch copy would trip foreign keys on SQLite.
    for name, _ in reversed(RATE_LIMIT_COLUMNS):
        op.execute(f"ALTER TABLE api_keys DROP COLUMN {name}")
    op.execute("ALTER TABLE api_keys DROP COLUMN scopes")
