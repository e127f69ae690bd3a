"""The rules of the group, programme and discipline forms, free of HTTP: what a new group and a new
programme must give, checked against the choices the form offered. A refusal carries a code
(``GroupProblem``); the page says it in the reader's language."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from .models import (
    DEFAULT_TIMEZONE,
    MAX_CREDITS,
    MAX_DISCIPLINE_NAME,
    MIN_CREDITS,
    DisciplineFormat,
    Group,
    ProgrammeKind,
    check_day,
    zone,
)

GROUP_LANGUAGES = ("kk", "ru")  # languages of instruction (clause 16)
MAX_GROUP_NAME = 100
MAX_PROGRAMME_NAME = 200
MAX_ZONE = 64


class GroupProblem(enum.StrEnum):
    NAME = "name"  # no name, or too long
    DEPARTMENT = "department"  # not one of the departments offered
    PROGRAMME = "programme"  # not one of the programmes offered
    LANGUAGE = "language"  # not a language of instruction
    ZONE = "zone"  # not a time zone (``value``: the zone given)
    PERIOD = "period"  # a day of the study period cannot be read
    PERIOD_ORDER = "period_order"  # the study period ends before it starts
    NAME_TAKEN = "name_taken"  # another group has the name (``value``: the name)
    PROGRAMME_NAME = "programme_name"  # no programme name, or too long
    KIND = "kind"  # not a kind of programme
    INSTITUTE = "institute"  # not one of the institutes offered
    DISTANCE = "distance"  # neither a distance programme nor not one
    DISCIPLINE_NAME = "discipline_name"  # no discipline name, or too long
    CREDITS = "credits"  # not a whole number of credits within the bounds
    FORMAT = "format"  # neither distance learning nor in person


class GroupRefused(ValueError):
    """A form that cannot be saved; ``problem`` says why, ``value`` what it names."""

    def __init__(self, problem: GroupProblem, value: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.value = value


def form_day(raw: str) -> date | None:
    """A day of a form (blank: None); ``ValueError`` if it is not one the timetable takes."""
    if not raw.strip():
        return None
    day = date.fromisoformat(raw.strip())
    check_day(day)
    return day


def choice(raw: str, allowed: Sequence[int]) -> int | None:
    """The id chosen in a select, if it is one of those offered."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value in allowed else None


def group_from(
    values: Mapping[str, str],
    *,
    departments: Sequence[int],
    programmes: Sequence[int],
    name_taken: Callable[[str], bool],
) -> Group:
    """The group a form describes, checked against the ``departments`` and ``programmes`` it
    offered and the names taken (its id is 0; ``GroupRefused``)."""
    name = values["name"].strip()
    if not name or len(name) > MAX_GROUP_NAME:
        raise GroupRefused(GroupProblem.NAME)
    department_id = choice(values["department_id"], departments)
    if department_id is None:
        raise GroupRefused(GroupProblem.DEPARTMENT)
    programme_id: int | None = None
    if values["programme_id"].strip():
        programme_id = choice(values["programme_id"], programmes)
        if programme_id is None:
            raise GroupRefused(GroupProblem.PROGRAMME)
    if values["language"] not in GROUP_LANGUAGES:
        raise GroupRefused(GroupProblem.LANGUAGE)
    tz = values["timezone"].strip() or DEFAULT_TIMEZONE
    try:
        if len(tz) > MAX_ZONE:
            raise ValueError(tz)
        zone(tz)
    except ValueError:
        raise GroupRefused(GroupProblem.ZONE, tz[:MAX_ZONE]) from None
    try:
        starts_on, ends_on = form_day(values["starts_on"]), form_day(values["ends_on"])
    except ValueError:
        raise GroupRefused(GroupProblem.PERIOD) from None
    if starts_on and ends_on and ends_on < starts_on:
        raise GroupRefused(GroupProblem.PERIOD_ORDER)
    if name_taken(name):
        raise GroupRefused(GroupProblem.NAME_TAKEN, name)
    return Group(0, name, department_id, values["language"], tz, programme_id, starts_on, ends_on)


@dataclass(frozen=True, slots=True)
class NewProgramme:
    name: str
    kind: ProgrammeKind
    institute_id: int
    distance: bool


def programme_from(values: Mapping[str, str], *, institutes: Sequence[int]) -> NewProgramme:
    """The programme a form describes, checked against the ``institutes`` it offered
    (``GroupRefused``); a blank ``distance`` is a distance programme, as Sabaq's are."""
    name = values["programme_name"].strip()
    distance = values["distance"] or "1"
    institute_id = choice(values["institute_id"], institutes)
    if not name or len(name) > MAX_PROGRAMME_NAME:
        raise GroupRefused(GroupProblem.PROGRAMME_NAME)
    if values["kind"] not in {k.value for k in ProgrammeKind}:
        raise GroupRefused(GroupProblem.KIND)
    if institute_id is None:
        raise GroupRefused(GroupProblem.INSTITUTE)
    if distance not in ("1", "0"):
        raise GroupRefused(GroupProblem.DISTANCE)
    return NewProgramme(name, ProgrammeKind(values["kind"]), institute_id, distance == "1")


def discipline_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_DISCIPLINE_NAME:
        raise GroupRefused(GroupProblem.DISCIPLINE_NAME)
    return name


def discipline_credits(raw: str) -> int:
    text = raw.strip()
    # ASCII digits only: int() would also take other scripts' digits, signs and underscores.
    if text.isascii() and text.isdigit() and len(text) <= 3:
        value = int(text)
        if MIN_CREDITS <= value <= MAX_CREDITS:
            return value
    raise GroupRefused(GroupProblem.CREDITS)


def discipline_format(raw: str) -> DisciplineFormat:
    if raw not in {f.value for f in DisciplineFormat}:
        raise GroupRefused(GroupProblem.FORMAT)
    return DisciplineFormat(raw)
