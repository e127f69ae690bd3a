"""Per-class attendance, derived from the ledger. Every learner appears, absentees too."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .models import CLOSES, OPENS, EventKind, LedgerEvent


@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float | None  # None while still present


@dataclass(frozen=True, slots=True)
class LearnerAttendance:
    user_id: int
    intervals: tuple[Interval, ...]

    @property
    def present(self) -> bool:
        return bool(self.intervals)

    @property
    def first_joined(self) -> float | None:
        return self.intervals[0].start if self.intervals else None

    @property
    def last_left(self) -> float | None:
        if not self.intervals:
            return None
        return self.intervals[-1].end

    def seconds(self, now: float) -> float:
        return _seconds(self.intervals, now)


def _seconds(intervals: Iterable[Interval], now: float) -> float:
    """Time present; an interval still open counts until ``now``."""
    return sum((i.end if i.end is not None else now) - i.start for i in intervals)


def intervals_by_user(events: Iterable[LedgerEvent]) -> dict[int, list[Interval]]:
    """Presence intervals per user, in ledger order.

    A participant's interval opens on joined/reconnected and closes on left/disconnected/removed;
    a second open while one is open (a second tab taking over) does not start a new interval.
    The class ending closes whatever is still open.
    """
    open_since: dict[int, float] = {}
    out: dict[int, list[Interval]] = {}
    for le in events:
        ev = le.event
        if ev.kind is EventKind.CLASS_ENDED:
            for uid, start in open_since.items():
                out.setdefault(uid, []).append(Interval(start, ev.origin_time))
            open_since.clear()
            continue
        if ev.user_id is None:
            continue
        if ev.kind in OPENS:
            open_since.setdefault(ev.user_id, ev.origin_time)
        elif ev.kind in CLOSES and ev.user_id in open_since:
            start = open_since.pop(ev.user_id)
            out.setdefault(ev.user_id, []).append(Interval(start, ev.origin_time))
    for uid, start in open_since.items():
        out.setdefault(uid, []).append(Interval(start, None))
    return out


def class_attendance(
    learner_ids: Sequence[int], events: Iterable[LedgerEvent]
) -> list[LearnerAttendance]:
    """One row per learner of the class, in the order given; no row for non-learners."""
    by_user = intervals_by_user(events)
    return [LearnerAttendance(u, tuple(by_user.get(u, ()))) for u in learner_ids]


def held(
    events: Sequence[LedgerEvent],
    learner_ids: Iterable[int],
    host_ids: Iterable[int],
    min_live_seconds: float,
    now: float,
) -> bool:
    """A class was held if a host was live long enough and at least one learner joined."""
    by_user = intervals_by_user(events)
    hosts_live = sum(_seconds(by_user.get(h, ()), now) for h in set(host_ids))
    return hosts_live >= min_live_seconds and any(by_user.get(u) for u in learner_ids)
