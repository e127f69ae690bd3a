"""A learner's admission status (clauses 12 and 20 of the regulation) and the rule at the door of
a class. Free of storage and I/O.

- Postgraduate programmes: the status is kept per discipline. A learner who has not completed the
  assignments of a discipline on the portal is not admitted to its midterm control nor to its
  exam (clause 12); other classes stay open, so the debt can be worked off.
- Additional education: the status is kept per course (the programme). A learner who failed the
  intermediate tests or case tasks is not admitted to further distance training nor to the final
  test (clause 20): every class of the course is closed to them, except the individual (make-up)
  classes planned for them that are not a control or an exam.

Every change is a step of an append-only history: who, when, why. The status at a moment is the
last change made by then; with no change at all, a learner is admitted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from scheduler.models import ClassKind, Discipline, Group, LiveClass, ProgrammeKind

from .errors import DisciplineNotNamed

MAX_NOTE = 1000

# The classes a postgraduate learner's status of a discipline decides (clause 12).
CONTROLS = frozenset({ClassKind.MIDTERM_CONTROL, ClassKind.EXAM})


class NotAdmittedReason(enum.StrEnum):
    ASSIGNMENTS_INCOMPLETE = "assignments_incomplete"  # clause 12
    INTERMEDIATE_TEST_FAILED = "intermediate_test_failed"  # clause 20: tests or case tasks


def discipline_named(kind: ClassKind, text: str, found: str | None, names: Sequence[str]) -> str:
    """The discipline a class names: ``found``, the programme's spelling of ``text`` (None: it
    names none of ``names``, the programme's disciplines). A midterm control or an exam of a
    programme with disciplines must name one of them, since admission to it is decided per
    discipline (``DisciplineNotNamed``); another class keeps ``text`` as given."""
    if found is not None:
        return found
    if kind in CONTROLS and names:
        raise DisciplineNotNamed(tuple(names))
    return text


@dataclass(frozen=True, slots=True)
class StatusKey:
    """What a status is about: a discipline of a postgraduate programme, or a whole course of
    additional education (``discipline_id`` None)."""

    programme_id: int
    discipline_id: int | None = None


def key_text(key: StatusKey) -> str:
    """A status key as a form's value: "programme:discipline" (no discipline: a whole course)."""
    return f"{key.programme_id}:{key.discipline_id if key.discipline_id is not None else ''}"


def parse_key(value: str) -> StatusKey | None:
    """The status key a form's value names, or None if it names none."""
    programme, sep, discipline = value.partition(":")
    if not sep or not programme.isdigit() or len(programme) > 18:
        return None
    if discipline and (not discipline.isdigit() or len(discipline) > 18):
        return None
    return StatusKey(int(programme), int(discipline) if discipline else None)


class ProgrammeDisciplines(Protocol):
    """Where ``class_discipline`` finds a programme's disciplines (``SqliteTimetable`` is one)."""

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None: ...

    def disciplines(self, programme_id: int) -> list[Discipline]: ...


def class_discipline(
    timetable: ProgrammeDisciplines, group: Group, kind: ClassKind, text: str
) -> str:
    """The discipline a class of the group names, spelt as its programme spells it (the rule is
    ``discipline_named``, which raises ``DisciplineNotNamed``; this finds its facts, the
    discipline so named and the others). A group without a programme names any."""
    if group.programme_id is None:
        return text
    found = timetable.discipline_named(group.programme_id, text) if text.strip() else None
    if found is not None:
        return discipline_named(kind, text, found.name, ())
    names = [d.name for d in timetable.disciplines(group.programme_id)]
    return discipline_named(kind, text, None, names)


@dataclass(frozen=True, slots=True)
class AdmissionChange:
    """One step of a learner's admission history."""

    id: int
    learner_id: int
    key: StatusKey
    admitted: bool
    reason: NotAdmittedReason | None  # why not admitted; None when admitted
    note: str  # why the change was made: the portal's record, the cleared debt, ...
    by_id: int | None  # None: the portal, through an API key
    by_name: str
    at: float

    def __post_init__(self) -> None:
        check_change(self.admitted, self.reason, self.note)


def check_change(admitted: bool, reason: NotAdmittedReason | None, note: str) -> None:
    if admitted and reason is not None:
        raise ValueError("An admitted learner has no reason for not being admitted")
    if not admitted and reason is None:
        raise ValueError("Say why the learner is not admitted")
    if not note.strip():
        raise ValueError("Say why the status changes (the record it is based on)")
    if len(note) > MAX_NOTE:
        raise ValueError(f"A note has at most {MAX_NOTE} characters")


def check_key(kind: ProgrammeKind, key: StatusKey) -> None:
    """A postgraduate status names a discipline; an additional-education one is the course's."""
    if kind is ProgrammeKind.POSTGRADUATE and key.discipline_id is None:
        raise ValueError("In a postgraduate programme the status is kept per discipline")
    if kind is ProgrammeKind.ADDITIONAL and key.discipline_id is not None:
        raise ValueError("In additional education the status is kept for the whole course")


def status_at(history: Sequence[AdmissionChange], moment: float) -> AdmissionChange | None:
    """The change in force at ``moment`` (history in the order it was made), or None."""
    current = None
    for change in history:
        if change.at > moment:
            break
        current = change
    return current


def barred_between(
    history: Sequence[AdmissionChange], start: float, end: float
) -> AdmissionChange | None:
    """The first not-admitted status in force at some moment of [start, end], or None."""
    first = status_at(history, start)
    if first is not None and not first.admitted:
        return first
    return next((c for c in history if start < c.at <= end and not c.admitted), None)


@dataclass(frozen=True, slots=True)
class Door:
    """What the rule needs to know of a class: its kind, whether it is an individual class of
    this learner, and the status keys that decide it (one per programme of its groups)."""

    kind: ClassKind
    individual: bool
    keys: tuple[StatusKey, ...]


def door_of(
    c: LiveClass,
    programmes: Mapping[int, ProgrammeKind],
    discipline_of: Mapping[int, int | None],
) -> Door:
    """The door of a class. ``programmes``: programme id → kind, for the programmes of the
    class's groups; ``discipline_of``: programme id → the id of the discipline the class is
    of in that programme (None: it names none of the programme's disciplines)."""
    keys: list[StatusKey] = []
    for pid, kind in sorted(programmes.items()):
        if kind is ProgrammeKind.ADDITIONAL:
            keys.append(StatusKey(pid))
        elif c.kind in CONTROLS and (did := discipline_of.get(pid)) is not None:
            keys.append(StatusKey(pid, did))
    return Door(c.kind, c.individual, tuple(keys))


def closes(door: Door, key: StatusKey) -> bool:
    """Whether a not-admitted status of ``key`` keeps its learner out of the door."""
    if key not in door.keys:
        return False
    if key.discipline_id is not None:
        return door.kind in CONTROLS  # postgraduate: the discipline's control and exam
    # Additional education: everything but the learner's own make-up classes.
    return not door.individual or door.kind in CONTROLS


def refusal(
    door: Door, histories: Mapping[StatusKey, Sequence[AdmissionChange]], moment: float
) -> AdmissionChange | None:
    """The not-admitted status that keeps the learner out at ``moment``, or None."""
    for key in door.keys:
        current = status_at(histories.get(key, ()), moment)
        if current is not None and not current.admitted and closes(door, key):
            return current
    return None


def barred_during(
    door: Door,
    histories: Mapping[StatusKey, Sequence[AdmissionChange]],
    start: float,
    end: float,
) -> AdmissionChange | None:
    """The not-admitted status that kept the learner out at some moment of the class, or None:
    reports mark such a learner "not admitted", not absent."""
    for key in door.keys:
        if closes(door, key) and (c := barred_between(histories.get(key, ()), start, end)):
            return c
    return None


def current(history: Iterable[AdmissionChange]) -> dict[StatusKey, AdmissionChange]:
    """The latest change per key."""
    out: dict[StatusKey, AdmissionChange] = {}
    for change in history:
        out[change.key] = change
    return out


@dataclass(frozen=True, slots=True)
class DoorRefusal:
    """A learner turned away at the door of a class by the status change ``change_id``."""

    class_id: int
    learner_id: int
    change_id: int
    at: float
