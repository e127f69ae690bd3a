"""Identifiers: UUIDv7, ordered by time."""

from __future__ import annotations

from access.ids import uuid7


def test_uuid7_is_time_ordered_and_versioned() -> None:
    a, b = uuid7(1_000), uuid7(2_000)
    assert a.version == 7 and a.variant == "specified in RFC 4122"
    assert a < b
