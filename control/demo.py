"""The demo academy (``sabaq demo``): one institute, its people, a group of 20 and a class that
starts now, seeded through the stores; and a sign-in link for each of its roles."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from access.models import Role
from access.passwords import Passwords
from access.sqlite_store import SqliteAccounts
from access.tokens import TokenSigner
from scheduler.errors import ClassConflict
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind, ClassStatus
from scheduler.sqlite_store import SqliteTimetable

GROUP = "ПД-24-1"
STUDENTS = [
    "Айгерим Абенова", "Нурлан Бекмуханов", "Дана Жумабекова", "Ерлан Касымов",
    "Асель Муратова", "Тимур Нурпеисов", "Жанар Омарова", "Руслан Сатыбалдиев",
    "Мадина Тулегенова", "Данияр Утегенов", "Камила Хасенова", "Арман Шайхин",
    "Алия Ыбырай", "Бауыржан Ермеков", "Гульнара Исаева", "Олжас Жакупов",
    "Сабина Кенжебаева", "Адиль Мусин", "Томирис Сериккызы", "Ильяс Толеубаев",
]  # fmt: skip


AGENCIES = (
    "Министерство внутренних дел",
    "Агентство по противодействию коррупции",
    "Агентство по финансовому мониторингу",
)


@dataclass(frozen=True, slots=True)
class DemoPerson:
    login: str
    name: str
    role: Role
    user_id: int


def seed(
    accounts: SqliteAccounts,
    timetable: SqliteTimetable,
    passwords: Passwords,
    clock: Callable[[], float] = time.time,
) -> None:
    """Create the demo academy unless it is there; make sure a class starts now (by ``clock``)."""
    if accounts.count_by_role(Role.TEACHER) == 0:
        _create(accounts, timetable, passwords)
    teacher, _ = accounts.by_login("teacher")
    classes = timetable.classes_of_teacher(teacher.id)
    if not any(c.status in (ClassStatus.PLANNED, ClassStatus.LIVE) for c in classes):
        start = datetime.fromtimestamp(clock(), UTC).replace(second=0, microsecond=0)
        group = timetable.groups_of_member(accounts.by_login("student01")[0].id)[0]
        for _attempt in range(10):
            try:
                timetable.add_class(
                    title="Уголовное право: лекция",
                    kind=ClassKind.LECTURE,
                    format=ClassFormat.LIVE_ONLINE,
                    teacher_id=teacher.id,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=90),
                    group_ids=(group.id,),
                    on_day_off=True,  # the demo's class starts now, on any day
                )
                return
            except ClassConflict as exc:  # an earlier demo class still holds its slot
                start = exc.conflicting.ends_at


def _create(accounts: SqliteAccounts, timetable: SqliteTimetable, passwords: Passwords) -> None:
    def person(login: str, name: str, role: Role) -> int:
        pw = passwords.hash(secrets.token_urlsafe(16))  # demo users sign in through links
        return accounts.create_user(login=login, full_name=name, role=role, password_hash=pw).id

    director = person("director", "Серик Ахметов", Role.DIRECTOR)
    head = person("head", "Гаухар Нургалиева", Role.HEAD_OF_DEPARTMENT)
    teacher = person("teacher", "Марат Искаков", Role.TEACHER)
    person("staff", "Жанна Серикбаева", Role.STAFF)
    person("admin", "Администратор", Role.ADMIN)
    institute = timetable.add_institute("Институт послевузовского образования", director)
    department = timetable.add_department(institute.id, "Кафедра уголовного права", head)
    group = timetable.add_group(GROUP, department.id, "ru", DEFAULT_TIMEZONE)
    timetable.add_teacher(group.id, teacher)
    students = [person(f"student{i:02d}", n, Role.STUDENT) for i, n in enumerate(STUDENTS, 1)]
    timetable.add_members(group.id, students)
    for i, uid in enumerate(students):  # who sent them, for the per-agency report
        accounts.set_agency(uid, AGENCIES[i % len(AGENCIES)])


def signin_links(
    accounts: SqliteAccounts,
    timetable: SqliteTimetable,
    signer: TokenSigner,
    base_url: str,
    ttl: float = 12 * 3600,
) -> list[tuple[str, str, str]]:
    """(role, name, link) for each demo role; the links lead to the class page."""
    teacher, _ = accounts.by_login("teacher")
    live = [
        c
        for c in timetable.classes_of_teacher(teacher.id)
        if c.status in (ClassStatus.PLANNED, ClassStatus.LIVE)
    ]
    target = f"/classes/{live[-1].id}" if live else "/"
    out = []
    for login in ("teacher", "student01", "student02", "staff", "director", "head", "admin"):
        user, _ = accounts.by_login(login)
        token = signer.mint_signin(user_id=user.id, ttl=ttl)
        nxt = target if login in ("teacher", "student01", "student02") else "/"
        out.append(
            (user.role.value, user.full_name, f"{base_url}/signin/link?token={token}&next={nxt}")
        )
    return out
