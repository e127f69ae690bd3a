"""What a register contains: the classes that took place online, with their digests, and for each
the learners an approved excuse covers and those their admission status kept out; one class's
marks, absentees included. Free of storage and I/O: the ledger, the timetable, excuse requests
and admission statuses are ports.

A class planned, cancelled, in person or still to come has no register over many classes:
nobody is marked absent from it."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from admission.door import DoorTimetable, Statuses, not_admitted_in
from admission.service import Excuses, ExcuseTimetable, excused_in
from scheduler.models import ClassFormat, LiveClass

from .marks import ClassDigest, LearnerMark, MarkRules, class_marks, class_window
from .models import LedgerEvent
from .reports import ClassSlot


class ClassDigests(Protocol):
    """Where the classes' digests are read (``SqliteLedger`` is one): each class's, drawn
    with the reconnection grace ``grace``, of its chain as it is."""

    def digests_of_classes(
        self, class_ids: Iterable[int], grace: float
    ) -> dict[int, ClassDigest]: ...


class RegisterTimetable(ExcuseTimetable, DoorTimetable, Protocol):
    """What a register reads of the timetable: the classes' learners, and what deciding who is
    excused and who is kept out needs (``SqliteTimetable`` is one)."""


@dataclass(frozen=True, slots=True)
class Register:
    """The classes that took place, as reports need them, and what their marks are made of."""

    slots: list[ClassSlot]
    digests: dict[int, ClassDigest]
    excused: Mapping[int, Collection[int]]  # class id → learners an approved request excuses
    not_admitted: Mapping[int, Collection[int]]  # class id → learners their status kept out


def took_place(classes: Sequence[LiveClass], digests: Mapping[int, ClassDigest]) -> list[LiveClass]:
    """The classes of ``classes`` held online whose ledger has their start (one counted)."""
    return [
        c
        for c in classes
        if c.format is ClassFormat.LIVE_ONLINE and (d := digests.get(c.id)) and d.started
    ]


def windows(
    classes: Sequence[LiveClass], digests: Mapping[int, ClassDigest], now: float
) -> dict[int, tuple[float, float]]:
    """When each class actually ran, as its register counts it."""
    return {
        c.id: digests[c.id].window(c.starts_at.timestamp(), c.ends_at.timestamp(), now)
        for c in classes
    }


def register(
    classes: Sequence[LiveClass],
    *,
    ledger: ClassDigests,
    grace: float,
    timetable: RegisterTimetable,
    excuses: Excuses,
    statuses: Statuses,
    now: float,
) -> Register:
    """The register of ``classes``: those that took place online, with their digests (drawn
    with the reconnection grace ``grace``), the learners excused from them and those their
    admission status kept out while they ran."""
    online = [c for c in classes if c.format is ClassFormat.LIVE_ONLINE]
    digests = ledger.digests_of_classes((c.id for c in online), grace)
    held = took_place(online, digests)
    slots = [
        ClassSlot(
            c.id,
            c.title,
            c.starts_at.timestamp(),
            c.ends_at.timestamp(),
            tuple(timetable.learners(c)),
        )
        for c in held
    ]
    return Register(
        slots,
        digests,
        excused_in(excuses, timetable, held),
        not_admitted_in(statuses, timetable, held, windows(held, digests, now)),
    )


def class_register(
    c: LiveClass,
    events: Sequence[LedgerEvent],
    *,
    timetable: RegisterTimetable,
    excuses: Excuses,
    statuses: Statuses,
    rules: MarkRules,
    now: float,
) -> list[LearnerMark]:
    """One class's marks, a learner of the class each, absentees included, in the timetable's
    order of its learners: excused learners and those kept out marked so."""
    window = class_window(events, c.starts_at.timestamp(), c.ends_at.timestamp(), now)
    return class_marks(
        timetable.learners(c),
        events,
        c.starts_at.timestamp(),
        c.ends_at.timestamp(),
        now,
        rules,
        excused=excused_in(excuses, timetable, [c]).get(c.id, ()),
        not_admitted=not_admitted_in(statuses, timetable, [c], {c.id: window}).get(c.id, ()),
    )
