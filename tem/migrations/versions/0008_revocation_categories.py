"""revocation categories

Every revocation gets a category, the only thing about it a consumer is told (its free-text reason stays with
the packing house, the ministry, inspectors and the audit log). Revocations made before this have no category
anyone chose, and their free text cannot be sorted into one safely, so they get `other`: consumers are told the
stamp was revoked for "other reasons", and never the text they used to see.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills the rows there are, and is dropped again: a new revocation always names its
    # category.
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=16), server_default="other", nullable=False))
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.alter_column("category", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_column("category")
