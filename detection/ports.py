"""What online detection needs from the resolver, defined here so that detection never imports it: the
registry's answer for a serial (`Lookup`), and a store of stamp memories that saves judged scans with them
(`MemoryStore`, which the resolver's scan stores implement)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from detection.engine.model import LotRoute, StampState
from detection.scans import ScanEvent


@dataclass(frozen=True, slots=True)
class LotRef:
    """An activation's lot, with the route detection judges its scans against (it depends on when the range
    was activated, so two activations of one lot have two routes)."""

    lot_id: int
    code: str
    organisation_code: str
    route: LotRoute | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the registry says of one serial."""

    state: StampState
    lot: LotRef | None = None
    reason: str | None = None
    issuer: str | None = None  # the packing house a never-activated serial was issued to


@dataclass(slots=True)
class Saved:
    """Judged scans offered to the store: `ok` when the stamp's memory was still the version they were judged
    from, and everything was stored (`version` is then the new one); otherwise nothing changed, and `version`
    and `memory` are the stamp's current ones to judge again from."""

    ok: bool
    version: int
    memory: bytes | None = None


_T_contra = TypeVar("_T_contra", contravariant=True)


class Outcome(Protocol[_T_contra]):
    """Where a request's outcome goes: an asyncio future, or the detector's batch, which takes it at once."""

    def done(self) -> bool: ...

    def set_result(self, result: _T_contra, /) -> None: ...

    def set_exception(self, exc: BaseException, /) -> None: ...

    def cancel(self) -> bool: ...


class MemoryStore(Protocol):
    """Stamp memories, versioned, saved together with the scans judged from them."""

    async def save_judged(self, events: Sequence[ScanEvent], version: int | None, memory: bytes) -> Saved:
        """Entries of one stamp, judged in order from the memory at `version`: if the stamp is still at
        `version`, at once count each scan (entries of kind "scan"), append each entry to the scan log, and
        store `memory` (judged from the last) as the next version. Otherwise change nothing.
        `version` None: the entries were not judged (online detection is off): count and append them, and
        leave the stamp's memory as it is."""
        ...

    def start_save(self, events: Sequence[ScanEvent], version: int | None, memory: bytes, done: Outcome[Saved]) -> None:
        """`save_judged` started now, from a callback: `done` gets its outcome. The scan path starts its saves
        from the judging round, so a scan's task wakes once, when the save is answered."""
        ...

    def hold_writes(self) -> None:
        """Saves started from now on wait for `write_held` instead of being written at the next turn of the
        event loop: the judging round starts all of its saves and writes them at once."""
        ...

    def write_held(self) -> None:
        """Writes what waited since `hold_writes` now, in one write, and writes as before again."""
        ...

    async def load_memory(self, gtin: str, serial: int) -> tuple[int, bytes | None]:
        """The stamp's detection memory and its version (0 and None: never judged)."""
        ...

    async def store_memory(self, gtin: str, serial: int, version: int, memory: bytes) -> Saved:
        """Store `memory` as the next version if the stamp is still at `version`; otherwise change nothing and
        answer the current version and memory, as `save_judged` does."""
        ...
