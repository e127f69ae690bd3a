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
from dataclasses import dataclass, field
from itertools import pairwise

from access.events import EventKind

from .models import GENESIS, LedgerEvent, counts
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


def first_at(events: Iterable[LedgerEvent], kind: EventKind) -> float | None:
    """When the first counted event of ``kind`` happened, if one did."""
    return next(
        (e.event.origin_time for e in events if e.event.kind is kind and counts(e.event.data)),
        None,
    )


def ended_at(events: Sequence[LedgerEvent]) -> float | None:
    """When the class ended (the teacher ended it, or it was closed), if it did."""
    return first_at(events, EventKind.CLASS_ENDED)


def window(
    started: float | None,
    ended: float | None,
    scheduled_start: float,
    scheduled_end: float,
    now: float,
) -> tuple[float, float]:
    """The class's window, from when it started and ended (if it did)."""
    start = scheduled_start if started is None else started
    if ended is not None:
        return start, max(start, ended)
    return start, max(start, min(scheduled_end, now) if start <= now else scheduled_end)


def class_window(
    events: Sequence[LedgerEvent], scheduled_start: float, scheduled_end: float, now: float
) -> tuple[float, float]:
    return window(
        first_at(events, EventKind.CLASS_STARTED),
        ended_at(events),
        scheduled_start,
        scheduled_end,
        now,
    )


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


@dataclass(frozen=True, slots=True)
class ClassDigest:
    """What a class's marks are made of, drawn from its chain once (``events`` long, its last
    event ``last_seq``, hash ``head``): when the class started and ended (the first counted
    start and end), each person's stays with a reconnection grace of ``grace`` seconds, and
    the staff's overrides. A chain only grows, so a digest stays true of the chain it was drawn
    from: a store may keep it, named by that chain's length and head, and draw it anew once
    the chain has grown (``sqlite_ledger``)."""

    grace: float
    events: int = 0
    last_seq: int = 0
    head: str = GENESIS
    started_at: float | None = None
    ended_at: float | None = None
    intervals: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    overrides: Mapping[int, Override] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        """Whether the class's start is in its chain (it took place, if online)."""
        return self.started_at is not None

    def window(
        self, scheduled_start: float, scheduled_end: float, now: float
    ) -> tuple[float, float]:
        return window(self.started_at, self.ended_at, scheduled_start, scheduled_end, now)


# Raised whenever what ``digest`` draws from the events changes: a digest a store kept from an
# older version is then drawn anew, never read.
DIGEST_VERSION = 1


def digest(events: Sequence[LedgerEvent], grace: float) -> ClassDigest:
    """The digest of one class's chain, its events in ledger order."""
    return ClassDigest(
        grace=grace,
        events=len(events),
        last_seq=events[-1].seq if events else 0,
        head=events[-1].hash if events else GENESIS,
        started_at=first_at(events, EventKind.CLASS_STARTED),
        ended_at=ended_at(events),
        intervals={u: tuple(i) for u, i in intervals_by_user(events, grace).items()},
        overrides=overrides(events),
    )


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
    return digest_marks(
        learner_ids,
        digest(events, rules.grace_seconds),
        scheduled_start,
        scheduled_end,
        now,
        rules,
        excused,
        not_admitted,
    )


def digest_marks(
    learner_ids: Sequence[int],
    d: ClassDigest,
    scheduled_start: float,
    scheduled_end: float,
    now: float,
    rules: MarkRules,
    excused: Collection[int] = (),
    not_admitted: Collection[int] = (),
) -> list[LearnerMark]:
    """``class_marks`` from the class's digest (drawn with the grace ``rules`` give)."""
    if d.grace != rules.grace_seconds:
        raise ValueError("The digest was drawn with another reconnection grace than the rules'")
    start, end = d.window(scheduled_start, scheduled_end, now)
    ended = d.ended_at
    # How long the class is (or is to be): "away for long" is a share of it.
    length = max(0.0, (ended if ended is not None else scheduled_end) - start)
    by_user, manual = d.intervals, d.overrides
    rows = []
    for uid in learner_ids:
        intervals = by_user.get(uid, ())
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
