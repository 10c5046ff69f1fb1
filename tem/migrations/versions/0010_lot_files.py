"""lot files

Lot documents uploaded as files through the packing houses' portal (portal/): a phytosanitary certificate or
lab result as PDF, JPEG or PNG, with its SHA-256 and size.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lot_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_lot_files_lot_id_lots"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_lot_files_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_files")),
    )
    with op.batch_alter_table("lot_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_files_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lot_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_files_lot_id"))

    op.drop_table("lot_files")
