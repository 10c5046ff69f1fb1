"""Every SQL statement of the portal: its lot files. A file's bytes are read only when it is downloaded."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from issuer.models import LotFile


def files_of_lot(session: Session, lot_id: int) -> Sequence[LotFile]:
    query = select(LotFile).options(defer(LotFile.data)).where(LotFile.lot_id == lot_id).order_by(LotFile.id)
    return session.scalars(query).all()


def file_by_id(session: Session, file_id: int, organisation_id: int | None) -> LotFile | None:
    """The file, when it belongs to this organisation (None: any, for the ministry)."""
    query = select(LotFile).where(LotFile.id == file_id)
    if organisation_id is not None:
        query = query.where(LotFile.organisation_id == organisation_id)
    return session.scalars(query).first()
