"""Who manages whose account (access.people), and an import of teachers and staff checked row
by row."""

from __future__ import annotations

from access.models import Role
from access.people import (
    Account,
    ImportProblem,
    PersonRow,
    Steward,
    check_people,
    manageable_departments,
    may_change,
    may_deactivate,
    may_issue_link,
    may_make,
    may_manage,
)

ADMIN = Steward(1, Role.ADMIN)
STAFF = Steward(2, Role.STAFF)
DIRECTOR = Steward(3, Role.DIRECTOR, directs=frozenset({10, 11}))
HEAD = Steward(4, Role.HEAD_OF_DEPARTMENT, heads=frozenset({10}))
TEACHER = Steward(5, Role.TEACHER)
STUDENT = Steward(6, Role.STUDENT)
LONE_DIRECTOR = Steward(7, Role.DIRECTOR)  # directs no institute yet


def test_who_manages_whom() -> None:
    teacher_10 = Account(20, Role.TEACHER, 10)
    teacher_11 = Account(21, Role.TEACHER, 11)
    teacher_12 = Account(22, Role.TEACHER, 12)  # another institute's department
    head_11 = Account(23, Role.HEAD_OF_DEPARTMENT, 11)
    admin = Account(24, Role.ADMIN)
    staff = Account(25, Role.STAFF)
    director = Account(26, Role.DIRECTOR)
    student = Account(27, Role.STUDENT)
    every = (teacher_10, teacher_11, teacher_12, head_11, admin, staff, director, student)
    managed = {
        ADMIN: set(every),
        STAFF: set(every) - {admin},
        DIRECTOR: {teacher_10, teacher_11, head_11},
        HEAD: {teacher_10},
        TEACHER: set(),
        STUDENT: set(),
        LONE_DIRECTOR: set(),
    }
    for steward, accounts in managed.items():
        assert {a for a in every if may_manage(steward, a)} == accounts, steward
    assert manageable_departments(STAFF) is None and manageable_departments(HEAD) == frozenset({10})


def test_what_each_may_make_and_change() -> None:
    assert may_make(ADMIN, Account(0, Role.ADMIN))
    assert not may_make(STAFF, Account(0, Role.ADMIN))
    assert may_make(STAFF, Account(0, Role.DIRECTOR))
    assert may_make(DIRECTOR, Account(0, Role.HEAD_OF_DEPARTMENT, 11))
    assert not may_make(DIRECTOR, Account(0, Role.TEACHER, 12))
    assert not may_make(DIRECTOR, Account(0, Role.TEACHER))  # a department is needed
    assert not may_make(DIRECTOR, Account(0, Role.STAFF, 10))
    assert may_make(HEAD, Account(0, Role.TEACHER, 10))
    assert not may_make(HEAD, Account(0, Role.HEAD_OF_DEPARTMENT, 10))
    # staff cannot raise a teacher to administrator; a head cannot move a teacher out
    t = Account(20, Role.TEACHER, 10)
    assert not may_change(STAFF, t, Account(20, Role.ADMIN, 10))
    assert not may_change(HEAD, t, Account(20, Role.TEACHER, 11))
    assert may_change(DIRECTOR, t, Account(20, Role.TEACHER, 11))
    # nobody changes their own role or deactivates themself
    assert not may_change(ADMIN, Account(1, Role.ADMIN), Account(1, Role.STAFF))
    assert may_change(ADMIN, Account(1, Role.ADMIN), Account(1, Role.ADMIN))
    assert not may_deactivate(ADMIN, Account(1, Role.ADMIN))
    assert may_deactivate(ADMIN, Account(9, Role.ADMIN))
    assert may_deactivate(HEAD, t) and not may_deactivate(HEAD, Account(21, Role.TEACHER, 11))


def test_only_staff_and_admins_issue_set_password_links() -> None:
    t = Account(20, Role.TEACHER, 10)
    assert may_issue_link(STAFF, t) and may_issue_link(ADMIN, t)
    assert not may_issue_link(DIRECTOR, t) and not may_issue_link(HEAD, t)
    assert not may_issue_link(STAFF, Account(24, Role.ADMIN))


def test_import_rows_are_checked_each_with_its_problem() -> None:
    rows = [
        PersonRow(2, "a.teacher", "Алма Бекова", "преподаватель", "Кафедра А"),
        PersonRow(3, "a.staff", "Жанна Серикбаева", "методист", ""),
        PersonRow(4, "a.teacher", "Двойник", "", ""),
        PersonRow(5, "Bad Login", "Имя", "", ""),
        PersonRow(6, "taken", "Занятый", "", ""),
        PersonRow(7, "no.name", "", "", ""),
        PersonRow(8, "a.director", "Директор", "director", ""),
        PersonRow(9, "lost", "Потерянный", "teacher", "Нет такой"),
        PersonRow(10, "", "Без логина", "", ""),
    ]
    deps = {"кафедра а": 10, "кафедра б": 12}
    checked = check_people(STAFF, rows, {"taken"}, deps)
    assert [(c.row.line, c.problem) for c in checked] == [
        (2, None),
        (3, None),
        (4, ImportProblem.DUPLICATE),
        (5, ImportProblem.BAD_LOGIN),
        (6, ImportProblem.TAKEN),
        (7, ImportProblem.NO_NAME),
        (8, ImportProblem.BAD_ROLE),
        (9, ImportProblem.UNKNOWN_DEPARTMENT),
        (10, ImportProblem.NO_LOGIN),
    ]
    assert checked[0].role is Role.TEACHER and checked[0].department_id == 10
    assert checked[1].role is Role.STAFF and checked[2].first_line == 2
    # a head imports teachers into the department they head; staff rows and others are refused
    head_rows = [
        PersonRow(2, "t1", "Т Один", "", ""),
        PersonRow(3, "t2", "Т Два", "", "Кафедра Б"),
        PersonRow(4, "s1", "С Один", "staff", ""),
    ]
    by_head = check_people(HEAD, head_rows, set(), deps)
    assert [(c.department_id, c.problem) for c in by_head] == [
        (10, None),
        (12, ImportProblem.NOT_ALLOWED),
        (10, ImportProblem.NOT_ALLOWED),
    ]
