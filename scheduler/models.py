"""Domain types of the timetable. Times are aware datetimes in UTC."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidTransition

DEFAULT_TIMEZONE = "Asia/Almaty"
LONGEST_CLASS = timedelta(hours=12)
LANGUAGES = ("kk", "ru", "en")


class ClassKind(enum.StrEnum):
    LECTURE = "lecture"
    SEMINAR = "seminar"
    PRACTICAL = "practical"
    CONSULTATION = "consultation"
    MIDTERM_CONTROL = "midterm_control"
    EXAM = "exam"
    INTRODUCTION = "introduction"


class ClassFormat(enum.StrEnum):
    LIVE_ONLINE = "live_online"
    IN_PERSON = "in_person"


class ClassStatus(enum.StrEnum):
    PLANNED = "planned"
    LIVE = "live"
    HELD = "held"
    CANCELLED = "cancelled"
    MISSED = "missed"


# A class in one of these holds its teacher, groups and learners for its time.
OCCUPYING = frozenset({ClassStatus.PLANNED, ClassStatus.LIVE, ClassStatus.HELD})

# Which status may follow which; anything else is refused with the states named.
TRANSITIONS: dict[ClassStatus, frozenset[ClassStatus]] = {
    ClassStatus.PLANNED: frozenset({ClassStatus.LIVE, ClassStatus.CANCELLED, ClassStatus.MISSED}),
    ClassStatus.LIVE: frozenset({ClassStatus.HELD, ClassStatus.MISSED}),
    ClassStatus.HELD: frozenset(),
    ClassStatus.CANCELLED: frozenset(),
    ClassStatus.MISSED: frozenset(),
}


def check_transition(old: ClassStatus, new: ClassStatus) -> None:
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f'A class cannot go from "{old}" to "{new}"')


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class Institute:
    id: int
    name: str
    director_id: int | None


@dataclass(frozen=True, slots=True)
class Department:
    id: int
    institute_id: int
    name: str
    head_id: int | None


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    department_id: int
    language: str = "ru"
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"Language {self.language!r} is not one of {', '.join(LANGUAGES)}")
        zone(self.timezone)
        if not self.name.strip():
            raise ValueError("A group needs a name")


@dataclass(frozen=True, slots=True)
class LiveClass:
    """One class of the timetable (named so to keep clear of Python's ``class``)."""

    id: int
    title: str
    kind: ClassKind
    format: ClassFormat
    teacher_id: int
    starts_at: datetime
    ends_at: datetime
    status: ClassStatus
    group_ids: tuple[int, ...] = field(default=())
    # An individual class (a make-up class for one learner): only these learners of the groups
    # are its learners. Empty: every member of the groups.
    learner_ids: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.starts_at.utcoffset() != timedelta(0) or self.ends_at.utcoffset() != timedelta(0):
            raise ValueError("Class times are stored in UTC")
        if self.ends_at <= self.starts_at:
            raise ValueError("A class must end after it starts")
        if self.ends_at - self.starts_at > LONGEST_CLASS:
            raise ValueError("A class lasts at most 12 hours")
        if not self.title.strip():
            raise ValueError("A class needs a title")

    @property
    def individual(self) -> bool:
        return bool(self.learner_ids)

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.starts_at < ends_at and starts_at < self.ends_at
