"""epcis events

EPCIS 2.0 events from every actor along the chain (captured, or Tem's own stages, activations and
revocations), the objects each names, capture jobs, which organisations hold a lot, and the national portal's
outbox. Organisations get a GLN; a stage gets a position and a consignee.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tem.core.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A column and a unique index, never a table rebuild: on SQLite rebuilding `organisations`, which every
    # table refers to, fails once it holds rows.
    op.add_column("organisations", sa.Column("gln", sa.String(length=13), nullable=True))
    op.create_index("ix_organisations_gln", "organisations", ["gln"], unique=True)
    with op.batch_alter_table("stage_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("consignee_organisation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_stage_records_consignee", "organisations", ["consignee_organisation_id"], ["id"]
        )
    op.create_table(
        "epcis_capture_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("finished_at", tem.core.db.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcis_capture_jobs_organisation_id", "epcis_capture_jobs", ["organisation_id"])
    op.create_table(
        "epcis_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("event_time", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("record_time", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("biz_step", sa.String(length=200), nullable=True),
        sa.Column("biz_location", sa.String(length=300), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("capture_job_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["capture_job_id"], ["epcis_capture_jobs.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_epcis_events_event_time", "epcis_events", ["event_time"])
    op.create_index("ix_epcis_events_biz_step", "epcis_events", ["biz_step"])
    op.create_index("ix_epcis_events_biz_location", "epcis_events", ["biz_location"])
    op.create_index("ix_epcis_events_organisation_id", "epcis_events", ["organisation_id"])
    op.create_index("ix_epcis_events_capture_job_id", "epcis_events", ["capture_job_id"])
    op.create_table(
        "epcis_event_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=12), nullable=False),
        sa.Column("uri", sa.String(length=300), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.Column("serial_first", sa.BigInteger(), nullable=True),
        sa.Column("serial_last", sa.BigInteger(), nullable=True),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_pk"], ["epcis_events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcis_event_objects_event_pk", "epcis_event_objects", ["event_pk"])
    op.create_index("ix_epcis_event_objects_uri", "epcis_event_objects", ["uri"])
    op.create_index("ix_epcis_event_objects_lot_id", "epcis_event_objects", ["lot_id"])
    op.create_index("ix_epcis_event_objects_gtin_serial", "epcis_event_objects", ["gtin", "serial_first"])
    op.create_index("ix_epcis_event_objects_gtin_lot", "epcis_event_objects", ["gtin", "lot"])
    op.create_table(
        "lot_custody",
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("granted_by_event", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["granted_by_event"], ["epcis_events.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("lot_id", "organisation_id"),
    )
    op.create_index("ix_lot_custody_organisation_id", "lot_custody", ["organisation_id"])
    op.create_table(
        "portal_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", tem.core.db.UtcDateTime(), nullable=False),
        sa.Column("delivered_at", tem.core.db.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_pk"], ["epcis_events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_pk"),
    )
    op.create_index("ix_portal_outbox_due", "portal_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("portal_outbox")
    op.drop_table("lot_custody")
    op.drop_table("epcis_event_objects")
    op.drop_table("epcis_events")
    op.drop_table("epcis_capture_jobs")
    with op.batch_alter_table("stage_records", schema=None) as batch_op:
        batch_op.drop_constraint("fk_stage_records_consignee", type_="foreignkey")
        batch_op.drop_column("consignee_organisation_id")
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
    op.drop_index("ix_organisations_gln", table_name="organisations")
    op.drop_column("organisations", "gln")
