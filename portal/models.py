"""The portal's table, `lot_files` (migration 0010), is defined with the rest of the registry in `issuer.models`
so that the trace page (`resolver`, which may not import the portal) can show that a lot has documents on file.
Named here too for the code that reads it as the portal's."""

from __future__ import annotations

from issuer.models import LotFile

__all__ = ["LotFile"]
