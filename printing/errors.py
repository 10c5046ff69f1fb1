"""One error type for everything that stops a print job before the first byte is written."""

from __future__ import annotations

__all__ = ["PrintError"]


class PrintError(ValueError):
    """The job cannot print well; the message says why, in words a packing-house clerk can act on."""
