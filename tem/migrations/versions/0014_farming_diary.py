"""farming diary

A growing area's farming diary (append-only: a correction is a new entry naming the one it corrects), and the
evidence files an area carries (imagery, reports) with their SHA-256.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diary_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("growing_area_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=True),
        sa.Column("active_ingredients", sa.JSON(), nullable=False),
        sa.Column("dose", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("phi_days", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("corrects", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects"], ["diary_entries.id"], name=op.f("fk_diary_entries_corrects_diary_entries")
        ),
        sa.ForeignKeyConstraint(
            ["growing_area_id"], ["growing_areas.id"], name=op.f("fk_diary_entries_growing_area_id_growing_areas")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_diary_entries_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diary_entries")),
        sa.UniqueConstraint("corrects", name=op.f("uq_diary_entries_corrects")),
    )
    with op.batch_alter_table("diary_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_diary_entries_growing_area_id"), ["growing_area_id"], unique=False)
    op.create_table(
        "area_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("growing_area_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("captured_on", sa.Date(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["growing_area_id"], ["growing_areas.id"], name=op.f("fk_area_evidence_growing_area_id_growing_areas")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_area_evidence_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_evidence")),
    )
    with op.batch_alter_table("area_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_area_evidence_growing_area_id"), ["growing_area_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("area_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_area_evidence_growing_area_id"))
    op.drop_table("area_evidence")
    with op.batch_alter_table("diary_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diary_entries_growing_area_id"))
    op.drop_table("diary_entries")
