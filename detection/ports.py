"""What online detection needs from the resolver, defined here so that detection never imports it: the
registry's answer for a serial (`Lookup`, with a revoked stamp's `RevocationCategory`), and a store of stamp
memories that saves judged scans with them (`MemoryStore`, which the resolver's scan stores implement)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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


class RevocationCategory(StrEnum):
    """Why stamps were revoked, in the few words a consumer may read. The packing house's own words (the
    revocation's `reason`) stay with the packing house, the ministry, inspectors and the audit log: they can name
    people, customers or quarrels, so no consumer page, public API or finding explanation ever shows them."""

    WITHDRAWN = "withdrawn"  # by the packing house: damaged, destroyed, unused or left over
    STOLEN = "stolen"  # reported stolen or lost
    RECALLED = "recalled"  # recalled for safety or quality
    MISPRINTED = "misprinted"  # printed in error
    OTHER = "other"  # none of these; revocations made before categories existed have it too
    KEY_WITHDRAWN = "key_withdrawn"  # the signing key was revoked: set by `tem keys revoke`, never chosen


#: What a packing house chooses from when it revokes serials (a revoked key is always KEY_WITHDRAWN).
RANGE_CATEGORIES: tuple[RevocationCategory, ...] = tuple(
    c for c in RevocationCategory if c is not RevocationCategory.KEY_WITHDRAWN
)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the registry says of one serial. A revoked one (or one signed by a revoked key) has its `category`;
    `note` is the packing house's own reason, for officials only (never on a consumer page)."""

    state: StampState
    lot: LotRef | None = None
    category: RevocationCategory | None = None
    issuer: str | None = None  # the packing house a never-activated serial was issued to
    note: str | None = None


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
