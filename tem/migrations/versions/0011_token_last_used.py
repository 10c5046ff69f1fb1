"""token last used

When each API token last authenticated, shown on the ministry's tokens page (`/ministry/users`). Written at most
once a minute per token (`identity.service`), never on every request; tokens used before this read "never".

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", tem.core.db.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
