"""growing area register

Growing areas become a national register: a code is unique nationally (no longer per packing house), an
area may carry a GeoJSON boundary with the area measured from it, and a status (`active`, `suspended`,
`revoked`) with the reason, date and who changed it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("growing_areas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boundary", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("measured_hectares", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=12), server_default="active", nullable=False))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", tem.core.db.UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_by", sa.String(length=200), nullable=True))
        batch_op.drop_constraint("uq_growing_areas_organisation_id_code", type_="unique")
        batch_op.create_unique_constraint("uq_growing_areas_code", ["code"])


def downgrade() -> None:
    with op.batch_alter_table("growing_areas", schema=None) as batch_op:
        batch_op.drop_constraint("uq_growing_areas_code", type_="unique")
        batch_op.create_unique_constraint("uq_growing_areas_organisation_id_code", ["organisation_id", "code"])
        batch_op.drop_column("status_changed_by")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
        batch_op.drop_column("measured_hectares")
        batch_op.drop_column("boundary")
