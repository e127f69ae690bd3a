"""The planning rules and the conflict rule as pure functions, without a database: the stores'
tests (test_timetable.py, test_guarantee.py, test_credit_mix.py) cover them through SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.errors import ClassConflict, GroupNotReady, InvalidTransition
from scheduler.models import (
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
)
from scheduler.planning import (
    ClassSpec,
    check_activation,
    check_class,
    check_mix,
    check_movable,
    check_switch,
    covers,
    first_conflict,
    same_name,
    starts_active,
    switchable,
)

NINE = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _class(
    cid: int,
    *,
    teacher: int = 1,
    groups: tuple[int, ...] = (10,),
    learners: tuple[int, ...] = (),
    start: datetime = NINE,
    status: ClassStatus = ClassStatus.PLANNED,
    fmt: ClassFormat = ClassFormat.IN_PERSON,
) -> LiveClass:
    return LiveClass(
        cid, f"Class {cid}", ClassKind.LECTURE, fmt, teacher, start, start + HOUR, status,
        groups, learner_ids=learners,
    )  # fmt: skip


def _members(groups: Sequence[int]) -> set[int]:
    return {g * 100 + 1 for g in groups}  # one member a group: 1001 in 10, 2001 in 20


def _learners(c: LiveClass) -> list[int]:
    return list(c.learner_ids) or sorted(_members(c.group_ids))


def _conflict(
    candidates: Sequence[LiveClass],
    *,
    teacher: int = 2,
    groups: tuple[int, ...] = (20,),
    learners: tuple[int, ...] = (),
    start: datetime = NINE,
) -> ClassConflict | None:
    return first_conflict(
        candidates,
        teacher_id=teacher,
        group_ids=groups,
        learner_ids=learners,
        starts_at=start,
        ends_at=start + HOUR,
        members=_members,
        learners=_learners,
    )


def test_the_conflict_rule_names_who_would_be_in_two_classes() -> None:
    same_teacher = _conflict([_class(1, teacher=2, groups=(30,))])
    assert same_teacher is not None and same_teacher.who == "teacher"
    same_group = _conflict([_class(1, groups=(20,))])
    assert same_group is not None and same_group.who == "group"
    # An individual class of a group's member is the member's, not the whole group's.
    shared_learner = _conflict([_class(1, groups=(20,), learners=(2001,))])
    assert shared_learner is not None and shared_learner.who == "learner"
    # Another group whose member is this class's learner.
    assert _conflict([_class(1, groups=(30,))], learners=(3001,)) is not None


def test_the_conflict_rule_passes_classes_apart_in_time_people_or_status() -> None:
    assert _conflict([_class(1, teacher=2, start=NINE + HOUR)]) is None  # back to back
    assert _conflict([_class(1, teacher=2, start=NINE - HOUR)]) is None
    assert _conflict([_class(1, groups=(30,))]) is None  # nobody shared
    for status in (ClassStatus.CANCELLED, ClassStatus.MISSED):
        assert _conflict([_class(1, teacher=2, status=status)]) is None


def test_the_conflict_rule_asks_for_members_only_when_it_must() -> None:
    asked: list[Sequence[int]] = []

    def members(groups: Sequence[int]) -> set[int]:
        asked.append(groups)
        return _members(groups)

    found = first_conflict(
        [_class(1, teacher=2)], teacher_id=2, group_ids=(20,), learner_ids=(),
        starts_at=NINE, ends_at=NINE + HOUR, members=members, learners=_learners,
    )  # fmt: skip
    assert found is not None and found.who == "teacher" and asked == []


def test_a_class_to_plan_is_checked_before_any_conflict() -> None:
    spec = ClassSpec("Law", ClassKind.LECTURE, ClassFormat.IN_PERSON, 1, NINE, NINE + HOUR, (10,))
    assert check_class(spec, lambda t, g: True, _members).group_ids == (10,)
    with pytest.raises(ValueError, match="does not teach group 10"):
        check_class(spec, lambda t, g: False, _members)
    with pytest.raises(ValueError, match="at least one group"):
        check_class(
            ClassSpec("Law", ClassKind.LECTURE, ClassFormat.IN_PERSON, 1, NINE, NINE + HOUR, ()),
            lambda t, g: True,
            _members,
        )
    stray = ClassSpec(
        "Law", ClassKind.LECTURE, ClassFormat.IN_PERSON, 1, NINE, NINE + HOUR, (10,), (2001,)
    )
    with pytest.raises(ValueError, match=r"Users \[2001\] are not members"):
        check_class(stray, lambda t, g: True, _members)
    too_long = ClassSpec(
        "Law", ClassKind.LECTURE, ClassFormat.IN_PERSON, 1, NINE, NINE + 13 * HOUR, (10,)
    )
    with pytest.raises(ValueError, match="at most 12 hours"):
        check_class(too_long, lambda t, g: True, _members)
    with pytest.raises(InvalidTransition):
        check_movable(_class(1, status=ClassStatus.HELD))


def test_an_emergency_switch_touches_planned_in_person_classes_to_come_on_its_days() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        check_switch(date(2030, 3, 5), date(2030, 3, 4), "Flood")
    with pytest.raises(ValueError, match="needs a reason"):
        check_switch(date(2030, 3, 4), date(2030, 3, 4), "  ")
    assert switchable(_class(1), NINE - HOUR)
    assert not switchable(_class(1), NINE)  # begun
    assert not switchable(_class(1, fmt=ClassFormat.LIVE_ONLINE), NINE - HOUR)
    sw = EmergencySwitch(1, date(2030, 3, 4), date(2030, 3, 4), (10,), "Flood", "Admin", 0.0, ())
    almaty = ZoneInfo("Asia/Almaty")  # 9:00 UTC is 14:00 (UTC+5) there: the same day
    assert covers(sw, _class(1), lambda g: almaty)
    assert not covers(sw, _class(1, groups=(20,)), lambda g: almaty)
    late = NINE + 14 * HOUR  # 23:00 UTC: the next day in Almaty
    assert not covers(sw, _class(1, start=late), lambda g: almaty)


def test_programmes_and_groups() -> None:
    distance = Programme(1, "Law", ProgrammeKind.POSTGRADUATE, 1, True)
    assert check_mix(distance, CreditMix(20, 100)) == CreditMix(20, 100)
    with pytest.raises(CreditMixExceeded):
        check_mix(distance, CreditMix(21, 100))
    in_person = Programme(2, "Law", ProgrammeKind.POSTGRADUATE, 1, False)
    assert check_mix(in_person, CreditMix(90, 100)) == CreditMix(90, 100)
    additional = Programme(3, "Excel", ProgrammeKind.ADDITIONAL, 1, True)
    assert starts_active(None, True) and starts_active(distance, True)
    assert not starts_active(additional, True)
    group = Group(1, "ПД-24-1", 1, "ru", "Asia/Almaty")
    check_activation(group, [])
    with pytest.raises(GroupNotReady, match="cannot be activated: no members"):
        check_activation(group, ["no members"])
    assert same_name("  Civil\u00a0 LAW ") == same_name("civil law")
