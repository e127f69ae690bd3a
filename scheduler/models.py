"""Domain types of the timetable. Times are aware datetimes in UTC."""

from __future__ import annotations

import enum
import math
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from access.models import RoomMode

from .errors import InvalidTransition, SchedulerError

# Time zones come from the tzdata package Sabaq depends on, not from the host's files: a host
# with data older than 2024a would put Almaty at UTC+6, an hour off every class.
zoneinfo.reset_tzpath(to=[])

DEFAULT_TIMEZONE = "Asia/Almaty"
LONGEST_CLASS = timedelta(hours=12)  # checked when a class is planned or moved
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def check_day(day: date) -> None:
    """Days the timetable deals in (and date arithmetic stays far from its limits)."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"The day {day} is not between {EARLIEST_DAY} and {LATEST_DAY}")


LANGUAGES = ("kk", "ru", "en")


class ProgrammeKind(enum.StrEnum):
    POSTGRADUATE = "postgraduate"
    ADDITIONAL = "additional"  # additional education: groups of at least 20 (clause 17)


MIN_ADDITIONAL_GROUP = 20


@dataclass(frozen=True, slots=True)
class Programme:
    id: int
    name: str
    kind: ProgrammeKind
    institute_id: int
    distance: bool = True  # a distance programme: at most 20 % of its credits in person (6-1)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A programme needs a name")


class ClassKind(enum.StrEnum):
    LECTURE = "lecture"
    SEMINAR = "seminar"
    PRACTICAL = "practical"
    CONSULTATION = "consultation"
    MIDTERM_CONTROL = "midterm_control"
    EXAM = "exam"
    INTRODUCTION = "introduction"


# Where learners discuss with each other and the teacher (clause 1-1.6) the class starts in
# seminar mode; lectures, controls, exams and the introduction keep the floor model.
SEMINAR_KINDS = frozenset({ClassKind.SEMINAR, ClassKind.PRACTICAL, ClassKind.CONSULTATION})


def room_mode(kind: ClassKind) -> RoomMode:
    """The mode a class of this kind starts its live room in (the teacher may switch)."""
    return RoomMode.SEMINAR if kind in SEMINAR_KINDS else RoomMode.LECTURE


class ClassFormat(enum.StrEnum):
    LIVE_ONLINE = "live_online"
    IN_PERSON = "in_person"


class ClassStatus(enum.StrEnum):
    PLANNED = "planned"
    LIVE = "live"
    HELD = "held"
    CANCELLED = "cancelled"
    MISSED = "missed"


# A class to come or running: it may still be joined (any other status is over for good).
OPEN = frozenset({ClassStatus.PLANNED, ClassStatus.LIVE})

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
    archived: bool = False  # hidden from pickers; what refers to it still shows it


@dataclass(frozen=True, slots=True)
class Department:
    id: int
    institute_id: int
    name: str
    head_id: int | None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    department_id: int
    language: str = "ru"
    timezone: str = DEFAULT_TIMEZONE
    programme_id: int | None = None
    starts_on: date | None = None  # the study period, in the group's zone
    ends_on: date | None = None
    active: bool = True  # the monthly guarantee covers active groups in their study period

    def __post_init__(self) -> None:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("A study period ends after it starts")
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
    discipline: str = ""
    series_id: int | None = None  # classes planned together by one recurrence rule
    # An individual class (a make-up class for one learner): only these learners of the groups
    # are its learners. Empty: every member of the groups.
    learner_ids: tuple[int, ...] = field(default=())
    # Planned by the monthly guarantee and not yet confirmed (or moved) by a person; it is a
    # class like any other (learners see it planned), the mark is for staff and its teachers.
    proposed: bool = False

    def __post_init__(self) -> None:
        if self.starts_at.utcoffset() != timedelta(0) or self.ends_at.utcoffset() != timedelta(0):
            raise ValueError("Class times are stored in UTC")
        if self.ends_at <= self.starts_at:
            raise ValueError("A class must end after it starts")
        if not self.title.strip():
            raise ValueError("A class needs a title")

    @property
    def individual(self) -> bool:
        return bool(self.learner_ids)

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.starts_at < ends_at and starts_at < self.ends_at


def group_flags(group: Group, programme: Programme | None, members: int) -> list[str]:
    """What keeps a group from being activated (empty: nothing)."""
    flags = []
    if (
        programme is not None
        and programme.kind is ProgrammeKind.ADDITIONAL
        and members < MIN_ADDITIONAL_GROUP
    ):
        flags.append("below_minimum")
    return flags


class TimetableAction(enum.StrEnum):
    """What a change to the timetable did; each is logged with who and why."""

    PLANNED = "planned"
    MOVED = "moved"
    CANCELLED = "cancelled"
    SWITCHED_ONLINE = "switched_online"
    SWITCH_UNDONE = "switch_undone"
    SWITCH_MADE = "switch_made"  # an emergency switch put in force (no class: the rule itself)
    SWITCH_LIFTED = "switch_lifted"
    MISSED = "missed"
    ALERT = "alert"
    CONFIRMED = "confirmed"  # a class the guarantee proposed, confirmed by a person or the job


@dataclass(frozen=True, slots=True)
class TimetableChange:
    at: float
    action: TimetableAction
    by_id: int | None  # None: the guarantee or another job of Sabaq's own
    by_name: str
    class_id: int | None
    group_id: int | None
    reason: str
    switch_id: int | None = None  # the emergency switch that made or undid the change


@dataclass(frozen=True, slots=True)
class EmergencySwitch:
    """Clause 3: in an emergency or quarantine, in-person classes of a period go online. While
    it is in force (not lifted) it is a rule: an in-person class planned or moved into its days
    for its groups goes online too. ``class_ids``: the classes it holds online (those it changed
    and still does), which lifting it returns to in person."""

    id: int
    first_day: date  # inclusive, in each group's zone
    last_day: date
    group_ids: tuple[int, ...]  # empty: every group
    reason: str
    by_name: str
    at: float
    class_ids: tuple[int, ...] = ()
    undone_at: float | None = None
    undone_by_name: str | None = None
    by_id: int | None = None

    @property
    def active(self) -> bool:
        return self.undone_at is None


# -- a programme's credit mix (clause 6-1) -----------------------------------------------------
class DisciplineFormat(enum.StrEnum):
    """How a discipline of a programme is studied."""

    DISTANCE = "distance"
    IN_PERSON = "in_person"


MAX_DISCIPLINE_NAME = 200
MIN_CREDITS = 1
MAX_CREDITS = 100
# Clause 6-1: in a distance programme at most a fifth of the credits are studied in person.
MAX_IN_PERSON_SHARE = Fraction(1, 5)


def check_credits(credits: int) -> None:
    if isinstance(credits, bool) or not isinstance(credits, int):
        raise ValueError(f"Credits are a whole number, not {credits!r}")
    if not MIN_CREDITS <= credits <= MAX_CREDITS:
        raise ValueError(f"A discipline has {MIN_CREDITS} to {MAX_CREDITS} credits, not {credits}")


@dataclass(frozen=True, slots=True)
class Discipline:
    """A discipline of a programme, with its credits and how it is studied."""

    id: int
    programme_id: int
    name: str
    credits: int
    format: DisciplineFormat

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A discipline needs a name")
        if len(self.name) > MAX_DISCIPLINE_NAME:
            raise ValueError(f"A discipline's name has at most {MAX_DISCIPLINE_NAME} characters")
        check_credits(self.credits)
        DisciplineFormat(self.format)  # an unknown format is refused with its value named


@dataclass(frozen=True, slots=True)
class CreditMix:
    """How many of a programme's credits are studied in person, of how many."""

    in_person: int
    total: int

    @property
    def share(self) -> Fraction:
        """The in-person share, exact (0 for a programme without credits)."""
        return Fraction(self.in_person, self.total) if self.total else Fraction(0)

    @property
    def within(self) -> bool:
        """At most 20 % in person, in whole numbers: exactly 20 % is within."""
        limit = MAX_IN_PERSON_SHARE
        return self.in_person * limit.denominator <= self.total * limit.numerator

    @property
    def percent(self) -> float:
        """The share in per cent to one decimal, halves rounded up. A share over the limit
        never shows as the limit itself (1001 of 5000 is 20.1, not 20.0): a refusal must not
        name a figure that is allowed."""
        tenths = math.floor(self.share * 1000 + Fraction(1, 2))
        limit_tenths = MAX_IN_PERSON_SHARE * 1000
        if not self.within and tenths <= limit_tenths:
            tenths = math.floor(limit_tenths) + 1
        return tenths / 10


def credit_mix(disciplines: Iterable[Discipline]) -> CreditMix:
    in_person = total = 0
    for d in disciplines:
        total += d.credits
        if d.format == DisciplineFormat.IN_PERSON:
            in_person += d.credits
    return CreditMix(in_person, total)


class CreditMixExceeded(SchedulerError, ValueError):
    """A change that would put more than 20 % of a distance programme's credits in person."""

    code = "credit_mix_exceeded"

    def __init__(self, mix: CreditMix) -> None:
        self.mix = mix
        self.in_person = mix.in_person
        self.total = mix.total
        super().__init__(
            f"In-person credits would be {mix.in_person} of {mix.total} ({mix.percent:.1f} %);"
            f" a distance programme allows at most {MAX_IN_PERSON_SHARE * 100} %"
        )


def closed_code(c: LiveClass) -> str | None:
    """Why nobody may join the class (any more), as its page says it and the media node refuses
    a join: "class_cancelled", "not_online" (held in person) or "class_ended" (over); None while
    it is to run or running online."""
    if c.status is ClassStatus.CANCELLED:
        return "class_cancelled"
    if c.format is ClassFormat.IN_PERSON:
        return "not_online"
    if c.status not in OPEN:
        return "class_ended"
    return None
