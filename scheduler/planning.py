"""The planning rules: what a class to plan must be, when two classes conflict, what an
emergency switch may touch, when a programme's credit mix or a group's activation is refused.

Pure functions over the models; the stores (``sqlite_*.py``) read the facts and call them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from .errors import (
    ClassConflict,
    ClassTooLong,
    GroupInactive,
    GroupNotReady,
    InvalidTransition,
    OutsideStudyPeriod,
)
from .models import (
    LONGEST_CLASS,
    OCCUPYING,
    ClassFormat,
    ClassKind,
    ClassStatus,
    CreditMix,
    CreditMixExceeded,
    EmergencySwitch,
    Group,
    LiveClass,
    Programme,
    ProgrammeKind,
    check_day,
    zone,
)

MAX_TEXT = 200  # characters of a class's title or discipline


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """A class to plan."""

    title: str
    kind: ClassKind
    format: ClassFormat
    teacher_id: int
    starts_at: datetime
    ends_at: datetime
    group_ids: tuple[int, ...]
    learner_ids: tuple[int, ...] = ()
    discipline: str = ""

    def draft(self) -> LiveClass:
        """The class as it would stand (checks its fields)."""
        if self.ends_at - self.starts_at > LONGEST_CLASS:
            raise ClassTooLong(LONGEST_CLASS)
        return LiveClass(
            id=0,
            title=self.title,
            kind=self.kind,
            format=self.format,
            teacher_id=self.teacher_id,
            starts_at=self.starts_at.astimezone(UTC),
            ends_at=self.ends_at.astimezone(UTC),
            status=ClassStatus.PLANNED,
            group_ids=self.group_ids,
            learner_ids=self.learner_ids,
            discipline=self.discipline,
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes the timetable: a person, or (id None) a job of Sabaq's own."""

    id: int | None
    name: str


SABAQ = Actor(None, "Sabaq")


def same_name(name: str) -> str:
    """A discipline's name as names are compared: letter case and spacing (any kind, any
    amount) aside."""
    return " ".join(name.split()).casefold()


# -- a class to plan -------------------------------------------------------------------------------
def check_class(
    spec: ClassSpec,
    teaches: Callable[[int, int], bool],
    members: Callable[[Sequence[int]], set[int]],
) -> LiveClass:
    """The class ``spec`` plans, checked: at least one group, short texts, a teacher of each
    group (``teaches(teacher, group)``, which may refuse a group that does not exist), and
    learners among the members of its groups (``members(groups)``)."""
    if not spec.group_ids:
        raise ValueError("A class needs at least one group")
    if len(spec.discipline) > MAX_TEXT or len(spec.title) > MAX_TEXT:
        raise ValueError("A title or a discipline has at most 200 characters")
    for g in spec.group_ids:
        if not teaches(spec.teacher_id, g):
            raise ValueError(f"User {spec.teacher_id} does not teach group {g}")
    everyone = members(spec.group_ids)
    stray = [u for u in spec.learner_ids if u not in everyone]
    if stray:
        raise ValueError(f"Users {stray} are not members of the class's groups")
    return spec.draft()


def check_group_day(group: Group, starts_at: datetime) -> date:
    """A class of ``group`` starting at ``starts_at``: the group is active
    (``GroupInactive``) and the class's day, in the group's zone, is inside its study period
    (``OutsideStudyPeriod``). Returns that local day."""
    if not group.active:
        raise GroupInactive(group.name)
    day = starts_at.astimezone(zone(group.timezone)).date()
    if (group.starts_on and day < group.starts_on) or (group.ends_on and day > group.ends_on):
        raise OutsideStudyPeriod(group.name, day, group.starts_on, group.ends_on)
    return day


def check_movable(c: LiveClass) -> None:
    """Only a planned class moves to another time."""
    if c.status is not ClassStatus.PLANNED:
        raise InvalidTransition(f'Class {c.id} is "{c.status}"; only planned move')


def moved(c: LiveClass, starts_at: datetime, ends_at: datetime) -> LiveClass:
    """The class as it would stand at another time (checks its length)."""
    return ClassSpec(
        c.title, c.kind, c.format, c.teacher_id, starts_at, ends_at, c.group_ids,
        c.learner_ids, c.discipline,
    ).draft()  # fmt: skip


# -- the conflict rule -----------------------------------------------------------------------------
def conflict_window(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    """The starts of the classes that may overlap [starts_at, ends_at): after the longest class
    before it, and before its end (both bounds open)."""
    return starts_at - LONGEST_CLASS, ends_at


def first_conflict(
    candidates: Iterable[LiveClass],
    *,
    teacher_id: int,
    group_ids: Sequence[int],
    learner_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    members: Callable[[Sequence[int]], set[int]],
    learners: Callable[[LiveClass], Iterable[int]],
) -> ClassConflict | None:
    """The first of ``candidates`` (planned, live or held) that overlaps the given time and
    shares its teacher, one of its groups, or a learner (a student in two groups, or the
    learner of an individual class). ``members(groups)`` is asked only once, when needed."""
    groups = set(group_ids)
    people: set[int] | None = None
    for other in candidates:
        if other.status not in OCCUPYING or not other.overlaps(starts_at, ends_at):
            continue
        if other.teacher_id == teacher_id:
            return ClassConflict("teacher", other)
        if not learner_ids and not other.individual and groups.intersection(other.group_ids):
            return ClassConflict("group", other)
        if people is None:
            people = set(learner_ids) or members(group_ids)
        if people.intersection(learners(other)):
            return ClassConflict("learner", other)
    return None


# -- the emergency switch (clause 3) ---------------------------------------------------------------
def check_switch(first_day: date, last_day: date, reason: str) -> None:
    check_day(first_day)
    check_day(last_day)
    if last_day < first_day:
        raise ValueError("The period ends before it starts")
    if not reason.strip():
        raise ValueError("An emergency switch needs a reason")


def days_span(first_day: date, last_day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the days from ``first_day`` to ``last_day`` in the zone."""
    start = datetime.combine(first_day, datetime.min.time(), tz)
    end = datetime.combine(last_day, datetime.min.time(), tz) + timedelta(days=1)
    return start, end


def switchable(c: LiveClass, now: datetime) -> bool:
    """A switch moves online a planned in-person class yet to begin; classes already begun or
    over stay as they were held."""
    return (
        c.status is ClassStatus.PLANNED and c.format is ClassFormat.IN_PERSON and c.starts_at > now
    )


def covers(sw: EmergencySwitch, c: LiveClass, zone_of: Callable[[int], tzinfo]) -> bool:
    """The switch covers the class: one of its groups (any, if the switch names none) has it
    on one of the switch's days, in the group's zone (``zone_of(group)``)."""
    for g in c.group_ids:
        if sw.group_ids and g not in sw.group_ids:
            continue
        day = c.starts_at.astimezone(zone_of(g)).date()
        if sw.first_day <= day <= sw.last_day:
            return True
    return False


# -- programmes and groups -------------------------------------------------------------------------
def check_mix(programme: Programme, mix: CreditMix) -> CreditMix:
    """Past 20 % in person in a distance programme: ``CreditMixExceeded``."""
    if programme.distance and not mix.within:
        raise CreditMixExceeded(mix)
    return mix


def starts_active(programme: Programme | None, active: bool) -> bool:
    """An additional-education group starts inactive (it has no members yet)."""
    return False if programme is not None and programme.kind is ProgrammeKind.ADDITIONAL else active


def check_activation(group: Group, flags: Sequence[str]) -> None:
    """A group with ``flags`` (what keeps it from being activated) is not activated."""
    if flags:
        raise GroupNotReady(f"Group {group.name!r} cannot be activated: {', '.join(flags)}")
