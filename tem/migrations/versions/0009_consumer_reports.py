"""consumer reports

A consumer's report of a fake (reports/): the stamp, what the page told them, where, how to reach them if they
want, and the photo re-encoded without metadata. Each one opens or adds to a `consumer_report` alert.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("network", sa.String(length=32), nullable=True),
        sa.Column("contact", sa.String(length=100), nullable=True),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_width", sa.Integer(), nullable=True),
        sa.Column("photo_height", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_consumer_reports_alert_id_alerts")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], name=op.f("fk_consumer_reports_lot_id_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_reports")),
    )
    with op.batch_alter_table("consumer_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consumer_reports_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index("ix_consumer_reports_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_consumer_reports_stamp", ["gtin", "serial"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consumer_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_consumer_reports_stamp")
        batch_op.drop_index("ix_consumer_reports_created_at")
        batch_op.drop_index(batch_op.f("ix_consumer_reports_alert_id"))

    op.drop_table("consumer_reports")
