"""Marks per learner per class, derived from the ledger with thresholds staff can set.

Each mark says what the person did:

- absent: never in the class;
- late: first came in more than ``late_after`` after the class began;
- left early: came in on time, but left before the end — their last stay ended more than the
  reconnection grace before it — or was away for long: away between stays for more than
  ``1 - present_share`` of the class in all (the time before coming in on time is not away);
- present: came in on time (after the start, within ``late_after``, is on time), stayed to the
  end (within the grace) and was not away for long;
- excused: an approved excuse covers the class (the mark stays excused whatever the presence);
- not admitted: never in a class that the learner's admission status kept them out of (a
  midterm control or exam after unfinished assignments, a course after a failed intermediate
  test) — not an absence.

A staff member's override, recorded in the ledger with a reason, replaces the derived mark.
Minutes present are counted inside the class's window only: from its start (the moment it went
live, else the timetable's start) to its end (the moment it ended, else the timetable's end,
else now for a class still running). The end a last stay has to reach is that end too, so while
the class goes on someone still in it (or dropped and still within the grace) has not left; the
class's length that "away for long" is measured against is from its start to the moment it
ended, else to the timetable's end.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from access.events import EventKind

from .models import LedgerEvent, counts
from .presence import Interval, intervals_by_user, seconds_present


class Mark(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    ABSENT = "absent"
    EXCUSED = "excused"
    NOT_ADMITTED = "not_admitted"


@dataclass(frozen=True, slots=True)
class MarkRules:
    late_after_seconds: float = 600.0
    present_share: float = 0.8
    grace_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.late_after_seconds < 0:
            raise ValueError("The lateness threshold cannot be negative")
        if not 0 < self.present_share <= 1:
            raise ValueError("The share of the class for 'present' must be above 0 and at most 1")
        if self.grace_seconds < 0:
            raise ValueError("The reconnection grace period cannot be negative")


@dataclass(frozen=True, slots=True)
class Override:
    mark: Mark
    reason: str
    by_user_id: int | None
    by_name: str
    at: float


@dataclass(frozen=True, slots=True)
class LearnerMark:
    user_id: int
    mark: Mark
    derived: Mark  # what the ledger alone gives, before an override or excuse
    seconds: float
    intervals: tuple[Interval, ...]
    override: Override | None = None

    @property
    def first_joined(self) -> float | None:
        return self.intervals[0].start if self.intervals else None

    @property
    def last_left(self) -> float | None:
        return self.intervals[-1].end if self.intervals else None

    @property
    def minutes(self) -> int:
        return round(self.seconds / 60)


def ended_at(events: Sequence[LedgerEvent]) -> float | None:
    """When the class ended (the teacher ended it, or it was closed), if it did."""
    return next(
        (
            e.event.origin_time
            for e in events
            if e.event.kind is EventKind.CLASS_ENDED and counts(e.event.data)
        ),
        None,
    )


def class_window(
    events: Sequence[LedgerEvent], scheduled_start: float, scheduled_end: float, now: float
) -> tuple[float, float]:
    start = next(
        (
            e.event.origin_time
            for e in events
            if e.event.kind is EventKind.CLASS_STARTED and counts(e.event.data)
        ),
        scheduled_start,
    )
    ended = ended_at(events)
    if ended is not None:
        return start, max(start, ended)
    return start, max(start, min(scheduled_end, now) if start <= now else scheduled_end)


def overrides(events: Iterable[LedgerEvent]) -> dict[int, Override]:
    """The latest staff override per learner, from the ledger."""
    out: dict[int, Override] = {}
    for le in events:
        ev = le.event
        if ev.kind is EventKind.MARK_OVERRIDDEN and ev.user_id is not None:
            by = ev.data.get("by_user_id")
            out[ev.user_id] = Override(
                Mark(ev.data["mark"]),
                str(ev.data.get("reason", "")),
                by if isinstance(by, int) else None,
                str(ev.data.get("by_name", "")),
                ev.origin_time,
            )
    return out


def away_seconds(intervals: Sequence[Interval], start: float, end: float) -> float:
    """Time away between stays, inside the class's window (before the first stay and after
    the last one are not counted: those are coming late and leaving before the end)."""
    total = 0.0
    for before, after in pairwise(intervals):
        if before.end is None:
            continue
        a, b = max(before.end, start), min(after.start, end)
        total += max(0.0, b - a)
    return total


def derive_mark(
    intervals: Sequence[Interval],
    start: float,
    end: float,
    length: float,
    rules: MarkRules,
) -> Mark:
    """The mark the stays give: ``start``..``end`` is the class's window (``end`` is now for
    a class still going on), ``length`` how long the class is (or is to be)."""
    if not intervals:
        return Mark.ABSENT
    if intervals[0].start > start + rules.late_after_seconds:
        return Mark.LATE
    last = intervals[-1].end
    if last is not None and last < end - rules.grace_seconds:
        return Mark.LEFT_EARLY  # left before the end
    if length - away_seconds(intervals, start, end) < rules.present_share * length:
        return Mark.LEFT_EARLY  # away for long: for more than 1 - present_share of the class
    return Mark.PRESENT


def class_marks(
    learner_ids: Sequence[int],
    events: Sequence[LedgerEvent],
    scheduled_start: float,
    scheduled_end: float,
    now: float,
    rules: MarkRules | None = None,
    excused: Collection[int] = (),
    not_admitted: Collection[int] = (),
) -> list[LearnerMark]:
    """One mark per learner of the class, absentees included, in the order given."""
    rules = rules or MarkRules()
    start, end = class_window(events, scheduled_start, scheduled_end, now)
    ended = ended_at(events)
    # How long the class is (or is to be): "away for long" is a share of it.
    length = max(0.0, (ended if ended is not None else scheduled_end) - start)
    by_user = intervals_by_user(events, rules.grace_seconds)
    manual: Mapping[int, Override] = overrides(events)
    rows = []
    for uid in learner_ids:
        intervals = tuple(by_user.get(uid, ()))
        seconds = seconds_present(intervals, now, start, end)
        derived = derive_mark(intervals, start, end, length, rules)
        override = manual.get(uid)
        mark = derived
        if uid in not_admitted and not intervals:
            mark = Mark.NOT_ADMITTED
        if uid in excused:
            mark = Mark.EXCUSED
        if override is not None:
            mark = override.mark
        rows.append(LearnerMark(uid, mark, derived, seconds, intervals, override))
    return rows
