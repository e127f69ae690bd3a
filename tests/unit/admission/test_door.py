"""The door of a class as a pure rule (admission.door.enter), given the facts without a database
or a request: who hosts, who learns, who is kept out and when that is logged, who observes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from access.models import ClassRole
from admission.door import KeptOut, NotInClass, enter
from admission.status import AdmissionChange, NotAdmittedReason, StatusKey
from scheduler.models import (
    ClassFormat,
    ClassKind,
    ClassStatus,
    Discipline,
    Group,
    LiveClass,
    Programme,
    ProgrammeKind,
)

TEACHER, LEARNER, OTHER = 2, 10, 30
COURSE = StatusKey(5)  # a course of additional education: its status closes every class


@dataclass
class Facts:
    """One group of a course of additional education, with one learner."""

    changes: list[AdmissionChange] = field(default_factory=list)
    logged: list[tuple[int, int, int, float]] = field(default_factory=list)

    def group(self, group_id: int) -> Group:
        return Group(group_id, "G-1", 1, programme_id=COURSE.programme_id)

    def groups_of_member(self, user_id: int) -> list[Group]:
        return [self.group(1)] if user_id == LEARNER else []

    def programme(self, programme_id: int) -> Programme:
        return Programme(programme_id, "Course", ProgrammeKind.ADDITIONAL, 1)

    def disciplines(self, programme_id: int) -> list[Discipline]:
        return []

    def discipline(self, discipline_id: int) -> Discipline:
        raise AssertionError("a course has no disciplines")

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None:
        return None

    def learners(self, live_class: LiveClass) -> list[int]:
        return [LEARNER]

    def is_learner(self, user_id: int, live_class: LiveClass) -> bool:
        return user_id == LEARNER

    def histories(
        self, learner_ids: Collection[int]
    ) -> dict[int, dict[StatusKey, list[AdmissionChange]]]:
        out: dict[int, dict[StatusKey, list[AdmissionChange]]] = {}
        for c in self.changes:
            if c.learner_id in learner_ids:
                out.setdefault(c.learner_id, {}).setdefault(c.key, []).append(c)
        return out

    def record(self, **kwargs: object) -> AdmissionChange:
        raise AssertionError("the door records no status")

    def refused(self, class_id: int, learner_id: int, change_id: int, at: float) -> None:
        self.logged.append((class_id, learner_id, change_id, at))

    def barred(self, at: float) -> AdmissionChange:
        change = AdmissionChange(
            len(self.changes) + 1, LEARNER, COURSE, False,
            NotAdmittedReason.INTERMEDIATE_TEST_FAILED, "failed the test", None, "portal", at,
        )  # fmt: skip
        self.changes.append(change)
        return change


START, END = 10_000.0, 13_600.0


def lecture(status: ClassStatus) -> LiveClass:
    return LiveClass(
        id=7, title="Lecture", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
        teacher_id=TEACHER, starts_at=datetime.fromtimestamp(START, UTC),
        ends_at=datetime.fromtimestamp(END, UTC), status=status, group_ids=(1,),
    )  # fmt: skip


def never() -> bool:
    raise AssertionError("not asked of this person")


def not_asked() -> tuple[float, float]:
    raise AssertionError("when the class ran is not asked for here")


def door(facts: Facts, who: int, c: LiveClass, now: float, observes: bool | None = None) -> object:
    ask = never if observes is None else (lambda: observes)
    ran = (
        not_asked if c.status in (ClassStatus.PLANNED, ClassStatus.LIVE) else (lambda: (START, END))
    )
    return enter(facts, facts, facts, who, c, now, ran=ran, observes=ask)


@pytest.mark.parametrize("status", list(ClassStatus))
def test_the_teacher_hosts_and_an_admitted_learner_learns(status: ClassStatus) -> None:
    facts = Facts()
    assert door(facts, TEACHER, lecture(status), START) is ClassRole.HOST
    assert door(facts, LEARNER, lecture(status), START) is ClassRole.LEARNER
    assert facts.logged == []


@pytest.mark.parametrize("status", [ClassStatus.PLANNED, ClassStatus.LIVE])
def test_a_learner_kept_out_of_a_class_to_come_or_running_is_refused_and_logged(
    status: ClassStatus,
) -> None:
    facts = Facts()
    barred = facts.barred(START - 60)
    assert door(facts, LEARNER, lecture(status), START + 5) == KeptOut(barred)
    assert facts.logged == [(7, LEARNER, barred.id, START + 5)]


def test_a_class_over_stays_open_unless_the_learner_was_kept_out_while_it_ran() -> None:
    after = Facts()
    after.barred(END + 60)  # barred only after it ended: its page and recordings stay theirs
    assert door(after, LEARNER, lecture(ClassStatus.HELD), END + 120) is ClassRole.LEARNER
    facts = Facts()
    during = facts.barred(START + 60)
    assert door(facts, LEARNER, lecture(ClassStatus.HELD), END + 120) == KeptOut(during)
    assert facts.logged == after.logged == []  # looking back is no join


def test_others_observe_only_if_the_policy_lets_them() -> None:
    facts = Facts()
    assert door(facts, OTHER, lecture(ClassStatus.LIVE), START, observes=True) is (
        ClassRole.OBSERVER
    )
    assert door(facts, OTHER, lecture(ClassStatus.LIVE), START, observes=False) == NotInClass()
