"""The planning forms' rules, free of HTTP: what a plan (one class or a weekly series) and a move
must give, read from a form or a JSON body, and the classes a plan makes. A refusal carries a
code (``PlanProblem``); the domain's own refusals (``ClassTooLong``, ``PlannedInPast``, ...) pass
through as they are. The pages and the API say either in the reader's language."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from .errors import (
    ClassTooLong,
    EndsBeforeStart,
    NoWeekdays,
    RuleEndsBeforeStart,
    TooManyOccurrences,
)
from .models import ClassFormat, ClassKind
from .recurrence import Occurrence, local_span, weekly
from .timing import check_to_come

MAX_TEXT = 200  # characters of a title, a discipline
MAX_REASON = 500  # characters of the reason for a move or a cancellation
WEEKLY = ("weekly", "on", "true", "True")  # the values of ``repeat`` that ask for a series
SPAN_REFUSALS = (ClassTooLong, EndsBeforeStart)
RULE_REFUSALS = (*SPAN_REFUSALS, TooManyOccurrences, RuleEndsBeforeStart, NoWeekdays)


class PlanProblem(enum.StrEnum):
    TITLE = "title"  # no title, or a title or discipline too long
    CHOICES = "choices"  # the group, teacher, kind or format missing or not one of ours
    WHEN = "when"  # the day or the times cannot be read
    WEEKLY = "weekly"  # a series' weekdays, last day or exceptions cannot be read
    WEEKDAYS = "weekdays"  # a day out of the timetable's range
    NO_CLASSES = "no_classes"  # the rule makes no classes
    REASON = "reason"  # a move's reason too long


class PlanRefused(Exception):
    """A plan's or a move's field is wrong; ``problem`` says which rule it breaks. Not a
    ``ValueError``: it passes through the parsing that turns those into a problem."""

    def __init__(self, problem: PlanProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PlanBasics:
    """What a plan names before its times: checked here, then against the timetable (the
    teacher teaches the group, the discipline is the programme's) by the caller."""

    title: str
    discipline: str  # as typed
    kind: ClassKind
    format: ClassFormat
    group_id: int
    teacher_id: int


def clock_time(raw: str) -> time:
    """A wall-clock time given as HH:MM (``ValueError`` if it is not one)."""
    return datetime.strptime(raw.strip(), "%H:%M").time()


def plan_basics(data: Mapping[str, Any]) -> PlanBasics:
    """A plan's title, discipline, kind, format, group and teacher (``PlanRefused``)."""
    title = str(data.get("title", "")).strip()
    discipline = str(data.get("discipline", "")).strip()
    if not title or len(title) > MAX_TEXT or len(discipline) > MAX_TEXT:
        raise PlanRefused(PlanProblem.TITLE)
    try:
        kind = ClassKind(str(data.get("kind", "")))
        fmt = ClassFormat(str(data.get("format", ClassFormat.LIVE_ONLINE.value)))
        group_id = int(str(data.get("group_id", "")))
        teacher_id = int(str(data.get("teacher_id", "")))
    except ValueError:
        raise PlanRefused(PlanProblem.CHOICES) from None
    if not (0 < group_id <= 2**62 and 0 < teacher_id <= 2**62):
        raise PlanRefused(PlanProblem.CHOICES)
    return PlanBasics(title, discipline, kind, fmt, group_id, teacher_id)


def occurrences_of(
    data: Mapping[str, Any], weekdays: Sequence[str], zone: str, now: datetime
) -> list[Occurrence]:
    """The classes a plan makes in ``zone``: one (``day``) or weekly (``repeat`` with
    ``weekdays``, ``until`` and ``except`` days), the first of them to come after ``now``.
    ``PlanRefused``, or the recurrence's and the timing's own refusals."""
    try:
        day = date.fromisoformat(str(data.get("day", "")))
        start, end = clock_time(str(data.get("start", ""))), clock_time(str(data.get("end", "")))
    except ValueError:
        raise PlanRefused(PlanProblem.WHEN) from None
    try:
        occurrences: list[Occurrence]
        if str(data.get("repeat", "")) in WEEKLY:
            try:
                until = date.fromisoformat(str(data.get("until", "")))
                days = [int(d) for d in weekdays]
                skip = [
                    date.fromisoformat(x.strip())
                    for x in str(data.get("except", "")).replace(";", ",").split(",")
                    if x.strip()
                ]
            except ValueError:
                raise PlanRefused(PlanProblem.WEEKLY) from None
            occurrences = weekly(day, until, days, start, end, zone, skip)
        else:
            occurrences = [local_span(day, start, end, zone)]
    except RULE_REFUSALS:
        raise
    except ValueError:  # a day out of the timetable's range: the answer it has always had
        raise PlanRefused(PlanProblem.WEEKDAYS) from None
    if not occurrences:
        raise PlanRefused(PlanProblem.NO_CLASSES)
    check_to_come(occurrences[0].starts_at, now)
    return occurrences


def move_span(data: Mapping[str, Any], zone: str, now: datetime) -> tuple[Occurrence, str]:
    """Where a move takes a class (the day and times in ``zone``, to come after ``now``) and
    its reason. ``PlanRefused``, ``ClassTooLong``, ``EndsBeforeStart`` or ``PlannedInPast``."""
    reason = str(data.get("reason", "")).strip()
    if len(reason) > MAX_REASON:
        raise PlanRefused(PlanProblem.REASON)
    try:
        day = date.fromisoformat(str(data.get("day", "")))
        span = local_span(
            day, clock_time(str(data.get("start", ""))), clock_time(str(data.get("end", ""))), zone
        )
    except SPAN_REFUSALS:
        raise
    except ValueError:
        raise PlanRefused(PlanProblem.WHEN) from None
    check_to_come(span.starts_at, now)
    return span, reason
