"""Who sees what, the pure rule: given who asks and the facts of what is asked about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access.models import Role, User
from admission.visibility import (
    ClassFacts,
    GroupFacts,
    PersonFacts,
    Viewer,
    may_observe,
    may_see_excuse,
    may_see_group_register,
    may_see_guest_request,
    may_see_institute,
    may_see_register,
    may_see_teachers_feed,
    proposals_seen,
)
from scheduler.models import ClassFormat, ClassKind, ClassStatus, LiveClass

CLASS = ClassFacts(teacher_id=10, group_ids=frozenset({5}), institute_ids=frozenset({1}))


def test_staff_see_every_institute_and_a_director_only_theirs() -> None:
    assert may_see_institute(Viewer(1, Role.STAFF), 7)
    director = Viewer(2, Role.DIRECTOR, institutes=frozenset({1}))
    assert may_see_institute(director, 1)
    assert not may_see_institute(director, 2)
    assert not may_see_institute(Viewer(3, Role.TEACHER, teaches=frozenset({5})), 1)


def test_a_class_is_observed_by_those_who_see_its_institute_not_by_its_learners() -> None:
    assert may_observe(Viewer(2, Role.HEAD_OF_DEPARTMENT, institutes=frozenset({1})), CLASS)
    assert not may_observe(Viewer(2, Role.DIRECTOR, institutes=frozenset({2})), CLASS)
    assert not may_observe(Viewer(20, Role.STUDENT, member_of=frozenset({5})), CLASS)


def test_a_register_is_seen_by_its_teacher_and_observers_only() -> None:
    assert may_see_register(Viewer(10, Role.TEACHER), CLASS)
    assert may_see_register(Viewer(1, Role.ADMIN), CLASS)
    assert not may_see_register(Viewer(11, Role.TEACHER, teaches=frozenset({5})), CLASS)
    assert not may_see_register(Viewer(20, Role.STUDENT, member_of=frozenset({5})), CLASS)


def test_a_groups_register_is_for_its_teachers_and_its_institute_not_its_members() -> None:
    group = GroupFacts(5, 1)
    assert may_see_group_register(Viewer(11, Role.TEACHER, teaches=frozenset({5})), group)
    assert may_see_group_register(Viewer(2, Role.DIRECTOR, institutes=frozenset({1})), group)
    assert not may_see_group_register(Viewer(20, Role.STUDENT, member_of=frozenset({5})), group)


def test_an_excuse_is_seen_by_staff_the_learner_and_its_deciding_director_only() -> None:
    assert may_see_excuse(Viewer(1, Role.STAFF), learner_id=20, decider_id=2)
    assert may_see_excuse(Viewer(20, Role.STUDENT), learner_id=20, decider_id=2)
    assert may_see_excuse(Viewer(2, Role.DIRECTOR), learner_id=20, decider_id=2)
    assert not may_see_excuse(Viewer(3, Role.DIRECTOR, institutes=frozenset({1})), 20, 2)
    assert not may_see_excuse(Viewer(4, Role.HEAD_OF_DEPARTMENT), 20, None)
    assert not may_see_excuse(Viewer(10, Role.TEACHER), 20, 2)


def test_a_guest_request_is_seen_by_staff_its_filer_its_director_and_the_teacher() -> None:
    def sees(v: Viewer) -> bool:
        return may_see_guest_request(v, filed_by=4, director_id=2, teacher_id=10)

    assert sees(Viewer(1, Role.ADMIN))
    assert sees(Viewer(4, Role.HEAD_OF_DEPARTMENT))
    assert sees(Viewer(2, Role.DIRECTOR))
    assert sees(Viewer(10, Role.TEACHER))
    assert not sees(Viewer(3, Role.DIRECTOR))
    assert not sees(Viewer(20, Role.STUDENT))


def test_a_teachers_feed_is_for_those_who_see_every_one_of_their_institutes() -> None:
    teacher = PersonFacts(10, frozenset({5, 6}), frozenset({1, 2}))
    assert may_see_teachers_feed(Viewer(10, Role.TEACHER), teacher)
    assert may_see_teachers_feed(Viewer(1, Role.STAFF), teacher)
    assert may_see_teachers_feed(Viewer(2, Role.DIRECTOR, institutes=frozenset({1, 2})), teacher)
    assert not may_see_teachers_feed(Viewer(2, Role.DIRECTOR, institutes=frozenset({1})), teacher)
    nowhere = PersonFacts(11, frozenset(), frozenset())
    assert not may_see_teachers_feed(Viewer(2, Role.DIRECTOR, institutes=frozenset({1})), nowhere)


def test_proposals_are_seen_by_staff_and_the_class_s_or_group_s_teachers() -> None:
    at = datetime(2026, 3, 2, 5, tzinfo=UTC)

    def proposal(id_: int, teacher_id: int, group_id: int) -> LiveClass:
        return LiveClass(
            id_, "Law", ClassKind.LECTURE, ClassFormat.LIVE_ONLINE, teacher_id, at,
            at + timedelta(hours=1), ClassStatus.PLANNED, (group_id,), proposed=True,
        )  # fmt: skip

    classes = [proposal(1, 5, 3), proposal(2, 6, 4), proposal(3, 6, 8)]
    teachers = {3: [5], 4: [5, 7], 8: [6]}

    class Timetable:
        def teachers(self, group_id: int) -> list[int]:
            return teachers[group_id]

    def seen(user_id: int, role: Role) -> set[int]:
        return proposals_seen(Timetable(), User(user_id, f"u{user_id}", "U", role), classes)

    assert seen(1, Role.STAFF) == {1, 2, 3}
    assert seen(7, Role.TEACHER) == {2}
    assert seen(5, Role.TEACHER) == {1, 2}
    assert seen(9, Role.STUDENT) == set()
