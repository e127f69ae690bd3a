"""Excuse requests (clause 12 of the regulation): staff file a learner's request to the director
of the institute — a valid reason, the days it covers, the supporting document — and the
director decides. An approved request excuses the learner's classes in those days and lets
staff plan individual make-up classes. Free of storage and I/O."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.models import DEFAULT_TIMEZONE, check_day

MAX_DOCUMENT = 200
MAX_DETAILS = 1000
MAX_COMMENT = 1000
LONGEST_PERIOD = timedelta(days=366)


class ExcuseReason(enum.StrEnum):
    ILLNESS = "illness"
    BEREAVEMENT = "bereavement"  # death of a close relative
    SERVICE_DUTY = "service_duty"
    OTHER = "other"


class ExcuseStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ExcuseAction(enum.StrEnum):
    """What one step of a request's history did."""

    FILED = "filed"
    APPROVED = "approved"
    REJECTED = "rejected"
    MAKEUP_PLANNED = "makeup_planned"


@dataclass(frozen=True, slots=True)
class ExcuseRequest:
    id: int
    learner_id: int
    group_id: int  # the group whose institute's director decides
    reason: ExcuseReason
    first_day: date  # the days covered, inclusive, in the group's time zone
    last_day: date
    document: str  # the supporting document: its kind, number and date
    details: str
    status: ExcuseStatus
    filed_by: int
    filed_at: float

    def __post_init__(self) -> None:
        check_request(self.first_day, self.last_day, self.document, self.details)

    def covers(self, starts_at: datetime, ends_at: datetime, zone: str) -> bool:
        """Whether a class held at that time falls (even partly) in the request's days."""
        tz = ZoneInfo(zone)
        first = datetime.combine(self.first_day, time(), tz)
        after = datetime.combine(self.last_day + timedelta(days=1), time(), tz)
        return starts_at < after and first < ends_at


@dataclass(frozen=True, slots=True)
class ExcuseStep:
    """One step of a request's history: who did what, when, and why."""

    request_id: int
    at: float
    actor_id: int
    actor_name: str
    action: ExcuseAction
    comment: str
    class_id: int | None = None  # a make-up class planned


def check_request(first_day: date, last_day: date, document: str, details: str) -> None:
    check_day(first_day)
    check_day(last_day)
    if last_day < first_day:
        raise ValueError("The period ends before it starts")
    if last_day - first_day >= LONGEST_PERIOD:
        raise ValueError("A request covers at most a year")
    if not document.strip():
        raise ValueError("Name the supporting document")
    if len(document) > MAX_DOCUMENT:
        raise ValueError(f"The document reference has at most {MAX_DOCUMENT} characters")
    if len(details) > MAX_DETAILS:
        raise ValueError(f"The details have at most {MAX_DETAILS} characters")


@dataclass(frozen=True, slots=True)
class Sitting:
    """A class as excusing needs it: when, for which groups, and whose presence it expects."""

    class_id: int
    starts_at: datetime
    ends_at: datetime
    group_ids: Sequence[int]
    learner_ids: Sequence[int]


def excused(
    sittings: Iterable[Sitting], approved: Iterable[ExcuseRequest], zones: Mapping[int, str]
) -> Mapping[int, frozenset[int]]:
    """class id → the learners an approved request excuses from it. A request excuses the
    classes of its own group (whose institute's director decided it), on its days in that
    group's time zone (``zones``: group id → zone)."""
    by_learner: dict[int, list[ExcuseRequest]] = {}
    for r in approved:
        if r.status is ExcuseStatus.APPROVED:
            by_learner.setdefault(r.learner_id, []).append(r)
    out: dict[int, frozenset[int]] = {}
    for s in sittings:
        who = frozenset(
            u
            for u in s.learner_ids
            if any(
                r.group_id in s.group_ids
                and r.covers(s.starts_at, s.ends_at, zones.get(r.group_id, DEFAULT_TIMEZONE))
                for r in by_learner.get(u, ())
            )
        )
        if who:
            out[s.class_id] = who
    return out
