"""Scan ids are ULIDs: 26 Crockford base32 characters, 48-bit milliseconds then 80 random bits."""

from __future__ import annotations

import pytest

from detection import scans
from detection.scans import new_scan_id, scan_id_time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference(value: int) -> str:
    """The ULID spec's encoding, one 5-bit character at a time from the most significant end."""
    return "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


@pytest.mark.parametrize(
    ("now", "random_bytes"),
    [
        (0.0, bytes(10)),
        (1_780_272_000.123, bytes(range(10))),
        (1_780_272_000.999, b"\xff" * 10),
        ((2**48 - 1) / 1000, b"\xff" * 10),  # the largest time a ULID holds: its id is the largest ULID
    ],
)
def test_a_scan_id_encodes_its_time_and_random_bits_as_the_spec_does(
    monkeypatch: pytest.MonkeyPatch, now: float, random_bytes: bytes
) -> None:
    monkeypatch.setattr(scans.os, "urandom", lambda n: random_bytes[:n])
    scan_id = new_scan_id(now)
    expected = _reference((round(now * 1000) << 80) | int.from_bytes(random_bytes, "big"))
    assert scan_id == expected
    assert len(scan_id) == 26
    assert scan_id[0] in "01234567"
    assert scan_id_time(scan_id) == round(now * 1000) / 1000


def test_scan_ids_sort_by_time_and_differ_within_a_millisecond() -> None:
    times = [1_780_272_000.001, 1_780_272_000.002, 1_780_272_060.0, 1_790_000_000.5]
    ids = [new_scan_id(t) for t in times]
    assert ids == sorted(ids)
    same_millisecond = {new_scan_id(times[0]) for _ in range(1000)}
    assert len(same_millisecond) == 1000
