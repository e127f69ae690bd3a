"""The rules of the excuse forms (clause 12), free of HTTP: what a filed request's fields must be,
whose request a filer may name, what a make-up class's form must give, and which of the group's
classes a request's days cover. A refusal carries a code (``FormProblem``); the pages say it in
the reader's language."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from scheduler.errors import ClassTooLong, EndsBeforeStart
from scheduler.models import LONGEST_CLASS, ClassKind, Group, LiveClass, check_day
from scheduler.recurrence import Occurrence, local_span
from scheduler.timing import check_to_come

from .models import MAX_COMMENT, MAX_DETAILS, MAX_DOCUMENT, ExcuseReason, ExcuseRequest

MAX_TITLE = 200  # characters of a make-up class's title
LONGEST_REQUEST = timedelta(days=365)  # from the first day to the last


class FormProblem(enum.StrEnum):
    REASON = "reason"  # no reason, or not one of ours
    DAYS = "days"  # a day missing or not a date
    DAYS_ORDER = "days_order"  # the last before the first, or more than a year after it
    DOCUMENT = "document"  # no document named, or the document or details too long
    LEARNER = "learner"  # no learner chosen, or (for a learner) not themselves
    TITLE = "title"  # a make-up class's title missing or too long
    KIND_OR_TEACHER = "kind_or_teacher"  # no kind of class, or not one of the group's teachers
    WHEN = "when"  # the day or the times cannot be read
    DECISION = "decision"  # neither to approve nor to reject
    COMMENT = "comment"  # a decision's comment too long


class FormRefused(ValueError):
    """A field of a form is wrong; ``problem`` says which rule it breaks."""

    def __init__(self, problem: FormProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ExcuseFields:
    reason: ExcuseReason
    first_day: date
    last_day: date
    document: str
    details: str


def excuse_fields(values: Mapping[str, str], attached: Sequence[str] = ()) -> ExcuseFields:
    """A request's reason, days, document and details, checked (``FormRefused`` says what is
    wrong). With documents ``attached`` (their names), the document's description may be left
    out: their names stand for it."""
    try:
        reason = ExcuseReason(values["reason"])
    except ValueError:
        raise FormRefused(FormProblem.REASON) from None
    try:
        first, last = (
            date.fromisoformat(values["first_day"]),
            date.fromisoformat(values["last_day"]),
        )
        check_day(first)
        check_day(last)
    except ValueError:
        raise FormRefused(FormProblem.DAYS) from None
    if last < first or last - first > LONGEST_REQUEST:
        raise FormRefused(FormProblem.DAYS_ORDER)
    document, details = values["document"].strip(), values["details"].strip()
    if not document and attached:
        document = "; ".join(attached)[:MAX_DOCUMENT]
    if not document or len(document) > MAX_DOCUMENT or len(details) > MAX_DETAILS:
        raise FormRefused(FormProblem.DOCUMENT)
    return ExcuseFields(reason, first, last, document, details)


def learner_choice(value: str, *, only: int | None = None) -> tuple[int, int]:
    """(group, learner) of the form's "group:learner" choice; ``only``: the learner filing for
    themselves, who may name no one else (``FormRefused``)."""
    try:
        group_id, learner_id = (int(x) for x in value.split(":"))
    except ValueError:
        raise FormRefused(FormProblem.LEARNER) from None
    if not (0 < group_id < 2**62 and 0 < learner_id < 2**62):
        raise FormRefused(FormProblem.LEARNER)
    if only is not None and learner_id != only:
        raise FormRefused(FormProblem.LEARNER)
    return group_id, learner_id


@dataclass(frozen=True, slots=True)
class MakeupFields:
    """A make-up class's form, read: its title, kind, teacher and the discipline as typed (the
    caller checks the discipline, then reads the day and times with ``makeup_when``)."""

    title: str
    kind: ClassKind
    teacher_id: int
    discipline: str


def makeup_fields(values: Mapping[str, str], teachers: Sequence[int]) -> MakeupFields:
    """The make-up class's title, kind and teacher (one of ``teachers``, the group's), checked
    in that order (``FormRefused``)."""
    title = values["title"].strip()
    if not title or len(title) > MAX_TITLE:
        raise FormRefused(FormProblem.TITLE)
    try:
        kind = ClassKind(values["kind"])
        teacher_id = int(values["teacher_id"])
    except ValueError:
        raise FormRefused(FormProblem.KIND_OR_TEACHER) from None
    if teacher_id not in teachers:
        raise FormRefused(FormProblem.KIND_OR_TEACHER)
    return MakeupFields(title, kind, teacher_id, values["discipline"].strip()[:200])


def makeup_when(values: Mapping[str, str]) -> tuple[date, time, time]:
    """The form's local day, start and end (``FormRefused`` if one cannot be read)."""
    try:
        return (
            date.fromisoformat(values["day"]),
            datetime.strptime(values["start"], "%H:%M").time(),
            datetime.strptime(values["end"], "%H:%M").time(),
        )
    except ValueError:
        raise FormRefused(FormProblem.WHEN) from None


def makeup_span(values: Mapping[str, str], zone: str, now: datetime) -> Occurrence:
    """When the make-up class is, from the form's local day and times in ``zone``, to come
    after ``now``: ``FormRefused``, or the class's own refusals (``ClassTooLong``,
    ``EndsBeforeStart``, ``PlannedInPast``)."""
    day, start, end = makeup_when(values)
    try:
        span = local_span(day, start, end, zone)
    except (ClassTooLong, EndsBeforeStart):
        raise
    except ValueError:
        raise FormRefused(FormProblem.WHEN) from None
    check_to_come(span.starts_at, now)
    return span


def decision_of(values: Mapping[str, str]) -> bool:
    """Whether the director's form approves the request (``FormRefused`` if it neither approves
    nor rejects, or its comment is too long; whether a rejection says why is the service's)."""
    if values["decision"] not in ("approve", "reject"):
        raise FormRefused(FormProblem.DECISION)
    if len(values["comment"]) > MAX_COMMENT:
        raise FormRefused(FormProblem.COMMENT)
    return values["decision"] == "approve"


class GroupClasses(Protocol):
    """The part of the timetable ``affected`` reads (``SqliteTimetable`` is one)."""

    def group(self, group_id: int) -> Group: ...

    def classes_of_group(
        self, group_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[LiveClass]: ...


def affected(timetable: GroupClasses, r: ExcuseRequest) -> list[LiveClass]:
    """The group's classes (not individual ones) that fall in the request's days."""
    zone = timetable.group(r.group_id).timezone
    tz = ZoneInfo(zone)
    start = datetime.combine(r.first_day, datetime.min.time(), tz) - LONGEST_CLASS
    end = datetime.combine(r.last_day + timedelta(days=1), datetime.min.time(), tz)
    return [
        c
        for c in timetable.classes_of_group(r.group_id, start, end)
        if not c.individual and r.covers(c.starts_at, c.ends_at, zone)
    ]
