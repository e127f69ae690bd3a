"""When a class may be planned: for a time to come. Free of storage and I/O."""

from __future__ import annotations

from datetime import datetime

from .errors import PlannedInPast


def check_to_come(starts_at: datetime, now: datetime) -> None:
    """Classes are planned for a time to come: one that starts at ``now`` or before is refused
    (``PlannedInPast``)."""
    if starts_at <= now:
        raise PlannedInPast(starts_at, now)
