"""Admission status with the timetable: setting a learner's status, the door of a class (who may
enter it, and in what role), who is turned away at it, and who a register marks "not admitted"."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from access.models import ClassRole
from scheduler.errors import SchedulerError
from scheduler.models import (
    OPEN,
    Discipline,
    Group,
    LiveClass,
    Programme,
    ProgrammeKind,
)

from .errors import AdmissionError
from .status import (
    CONTROLS,
    AdmissionChange,
    Door,
    NotAdmittedReason,
    StatusKey,
    barred_during,
    check_change,
    check_key,
    door_of,
    refusal,
)


class DoorTimetable(Protocol):
    """What the door reads of the timetable (``SqliteTimetable`` is one)."""

    def group(self, group_id: int) -> Group: ...

    def groups_of_member(self, user_id: int) -> list[Group]: ...

    def programme(self, programme_id: int) -> Programme: ...

    def disciplines(self, programme_id: int) -> list[Discipline]: ...

    def discipline(self, discipline_id: int) -> Discipline: ...

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None: ...

    def learners(self, live_class: LiveClass) -> list[int]: ...


class Statuses(Protocol):
    """Where learners' admission histories are kept (``SqliteAdmission`` is one)."""

    def histories(
        self, learner_ids: Collection[int]
    ) -> dict[int, dict[StatusKey, list[AdmissionChange]]]: ...

    def record(
        self,
        *,
        learner_id: int,
        key: StatusKey,
        admitted: bool,
        reason: NotAdmittedReason | None,
        note: str,
        by_id: int | None,
        by_name: str,
        at: float,
    ) -> AdmissionChange: ...


class ClassDoorTimetable(DoorTimetable, Protocol):
    """What the door of a class reads of the timetable to tell who may enter it."""

    def is_learner(self, user_id: int, live_class: LiveClass) -> bool: ...


class DoorLog(Protocol):
    """Where the refusals at the door are logged (``SqliteAdmission`` is one)."""

    def refused(self, class_id: int, learner_id: int, change_id: int, at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class KeptOut:
    """A learner of the class whose admission status keeps them out: the change that does."""

    change: AdmissionChange


@dataclass(frozen=True, slots=True)
class NotInClass:
    """Neither the class's teacher, nor its learner, nor one who may observe it."""


class NotInProgramme(AdmissionError):
    """The learner is in no group of the programme."""

    code = "not_in_programme"


class UnknownDiscipline(AdmissionError):
    code = "unknown_discipline"


@dataclass(frozen=True, slots=True)
class Who:
    """Who changes a status: a person (``id``) or the portal through an API key (``id`` None)."""

    id: int | None
    name: str


def programmes_of_learner(timetable: DoorTimetable, learner_id: int) -> list[Programme]:
    """The programmes of the learner's groups, by name."""
    ids = {g.programme_id for g in timetable.groups_of_member(learner_id) if g.programme_id}
    return sorted((timetable.programme(p) for p in ids), key=lambda p: p.name.casefold())


def set_status(
    admission: Statuses,
    timetable: DoorTimetable,
    *,
    learner_id: int,
    key: StatusKey,
    admitted: bool,
    reason: NotAdmittedReason | None,
    note: str,
    by: Who,
    at: float,
) -> tuple[AdmissionChange, bool]:
    """Record a change of the learner's status; returns it and whether it is new. Setting the
    status it already has records nothing (the portal may repeat a call)."""
    note = note.strip()
    check_change(admitted, reason, note)
    if key.programme_id not in {p.id for p in programmes_of_learner(timetable, learner_id)}:
        raise NotInProgramme(f"User {learner_id} is in no group of programme {key.programme_id}")
    programme = timetable.programme(key.programme_id)
    check_key(programme.kind, key)
    if key.discipline_id is not None:
        try:
            discipline = timetable.discipline(key.discipline_id)
        except SchedulerError:
            raise UnknownDiscipline(f"No discipline with id {key.discipline_id}") from None
        if discipline.programme_id != programme.id:
            raise UnknownDiscipline(
                f"Discipline {key.discipline_id} is not of programme {programme.id}"
            )
    history = admission.histories([learner_id]).get(learner_id, {}).get(key, [])
    if history and history[-1].admitted == admitted and history[-1].reason == reason:
        return history[-1], False
    change = admission.record(
        learner_id=learner_id, key=key, admitted=admitted, reason=reason, note=note,
        by_id=by.id, by_name=by.name, at=at,
    )  # fmt: skip
    return change, True


def door(timetable: DoorTimetable, c: LiveClass) -> Door:
    """The door of a class: the statuses that decide who of its learners may enter.

    A control or exam of a postgraduate programme that names none of the programme's
    disciplines (planned before they were entered, say) fails closed: it is decided by every
    discipline of the programme."""
    programmes: dict[int, ProgrammeKind] = {}
    discipline_of: dict[int, int | None] = {}
    for gid in c.group_ids:
        pid = timetable.group(gid).programme_id
        if pid is None or pid in programmes:
            continue
        programmes[pid] = timetable.programme(pid).kind
        found = timetable.discipline_named(pid, c.discipline) if c.discipline.strip() else None
        discipline_of[pid] = found.id if found is not None else None
    d = door_of(c, programmes, discipline_of)
    postgraduate = [p for p, kind in programmes.items() if kind is ProgrammeKind.POSTGRADUATE]
    if c.kind not in CONTROLS or any(discipline_of[p] is not None for p in postgraduate):
        return d
    # A control naming no discipline of any of its programmes: every discipline decides.
    unnamed = tuple(StatusKey(p, x.id) for p in postgraduate for x in timetable.disciplines(p))
    return Door(d.kind, d.individual, d.keys + unnamed)


def kept_out_during(
    admission: Statuses,
    timetable: DoorTimetable,
    learner_id: int,
    c: LiveClass,
    window: Callable[[], tuple[float, float]],
) -> AdmissionChange | None:
    """The not-admitted status that kept the learner out of the class at some moment of the
    time it ran (``window``, asked for only when a status could matter), or None: a class held
    while the learner was barred stays closed to them afterwards too (its page, recordings)."""
    d = door(timetable, c)
    if not d.keys:
        return None
    history = admission.histories([learner_id]).get(learner_id)
    if not history:
        return None
    return barred_during(d, history, *window())


def turned_away(
    admission: Statuses,
    timetable: DoorTimetable,
    learner_id: int,
    c: LiveClass,
    at: float,
) -> AdmissionChange | None:
    """The not-admitted status that keeps the learner out of the class now, or None."""
    d = door(timetable, c)
    if not d.keys:
        return None
    return refusal(d, admission.histories([learner_id]).get(learner_id, {}), at)


def not_admitted_in(
    admission: Statuses,
    timetable: DoorTimetable,
    classes: Sequence[LiveClass],
    windows: Mapping[int, tuple[float, float]],
) -> Mapping[int, frozenset[int]]:
    """class id → its learners a not-admitted status kept out at some moment of the class.
    ``windows``: when each class actually ran (from going live to ending, or to now for one
    still running), as its register counts it."""
    doors = {c.id: d for c in classes if c.id in windows and (d := door(timetable, c)).keys}
    if not doors:
        return {}
    learners = {c.id: timetable.learners(c) for c in classes if c.id in doors}
    histories = admission.histories({u for ls in learners.values() for u in ls})
    out: dict[int, frozenset[int]] = {}
    for c in classes:
        if c.id not in doors:
            continue
        start, end = windows[c.id]
        barred = frozenset(
            u
            for u in learners[c.id]
            if u in histories and barred_during(doors[c.id], histories[u], start, max(start, end))
        )
        if barred:
            out[c.id] = barred
    return out


def not_admitted_now(
    admission: Statuses, timetable: DoorTimetable, c: LiveClass, at: float
) -> dict[int, AdmissionChange]:
    """learner → the status that keeps them out of the class now (for the teacher's roster)."""
    d = door(timetable, c)
    if not d.keys:
        return {}
    histories = admission.histories(timetable.learners(c))
    return {u: ch for u, h in histories.items() if (ch := refusal(d, h, at)) is not None}


def enter(
    statuses: Statuses,
    log: DoorLog,
    timetable: ClassDoorTimetable,
    user_id: int,
    c: LiveClass,
    now: float,
    *,
    ran: Callable[[], tuple[float, float]],
    observes: Callable[[], bool],
) -> ClassRole | KeptOut | NotInClass:
    """Who may enter the class and in what role, or why not: its teacher hosts it; a learner
    of it is a learner unless their admission status keeps them out; one who may observe it
    (``observes``, the visibility policy's answer, asked only of others) observes it.

    The door of a class to come or running decides by the status ``now``, and a learner
    turned away is logged (``log``); one over stays the learner's to look back on (its page,
    its recordings) unless they were kept out of it at some moment while it ran (``ran``:
    when it ran, asked for only if a status could matter)."""
    if user_id == c.teacher_id:
        return ClassRole.HOST
    if timetable.is_learner(user_id, c):
        if c.status in OPEN:  # to come or running: the door decides by the status now
            barred = turned_away(statuses, timetable, user_id, c, now)
            if barred is not None:
                log.refused(c.id, user_id, barred.id, now)
        else:  # over: closed only if the learner was barred while it ran
            barred = kept_out_during(statuses, timetable, user_id, c, ran)
        return ClassRole.LEARNER if barred is None else KeptOut(barred)
    if observes():
        return ClassRole.OBSERVER
    return NotInClass()


# From this long before a class starts, the class page readies the way in (a join token and the
# WebSocket) while the device check runs, so that Join is quick.
PREPARE_AHEAD = timedelta(minutes=15)


def prepares_join(role: ClassRole, c: LiveClass, now: datetime) -> bool:
    """Whether the class page readies the way in ahead of Join: for someone who will take part
    (not staff or a director looking in, who enter only when they ask to) and from
    ``PREPARE_AHEAD`` before the start; never for a class that is over. A page opened days ahead
    holds no join token and no socket of the class server."""
    if role is ClassRole.OBSERVER or c.status not in OPEN:
        return False
    return now >= c.starts_at - PREPARE_AHEAD
