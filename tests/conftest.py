"""Shared fixtures: settings, a seeded academy, an app served on loopback, signed-in clients."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings as hypothesis_settings

from access.models import Role
from access.sqlite_store import SqliteAccounts
from control.database import connect
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind, LiveClass
from scheduler.sqlite_store import SqliteTimetable
from web.core import keys
from web.core.app import create_app
from web.core.http import CSRF_COOKIE, SESSION_COOKIE
from web.core.settings import Settings

# CI runs a bounded number of examples; a developer may ask for more with HYPOTHESIS_PROFILE=dev.
hypothesis_settings.register_profile("ci", max_examples=40, deadline=None)
hypothesis_settings.register_profile("dev", max_examples=300, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Clock:
    """What time it is for the server under test: the wall clock, or a chosen moment ticking
    on from there by the real time elapsed (heartbeats and timeouts still work). ``zone`` is
    the seeded groups' zone: the day is chosen in it."""

    def __init__(self, start: datetime | None = None, zone: str = DEFAULT_TIMEZONE) -> None:
        self.zone = zone
        self._offset = None if start is None else start.timestamp() - time.monotonic()

    def __call__(self) -> float:
        return time.time() if self._offset is None else time.monotonic() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)

    def today(self) -> date:
        """The day it is in the seeded groups' zone."""
        return datetime.fromtimestamp(self(), ZoneInfo(self.zone)).date()


def _day(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> Clock:
    return Clock(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)), zone)


# The days a date-sensitive test runs on (``@on_days``), each at a local time that also tries
# the edges of the day: the first of a month in the small hours (still the last of February in
# UTC), the last of a month late in the evening, New Year's Eve an hour before midnight (a
# class then runs into the next year), the 29th of February, and the night Berlin's clocks go
# forward (groups in Europe/Berlin; a class then spans the missing hour).
DAYS = {
    "1st-of-month": lambda: _day(DEFAULT_TIMEZONE, 2027, 3, 1, 2, 30),
    "last-of-month": lambda: _day(DEFAULT_TIMEZONE, 2027, 4, 30, 22, 15),
    "31-december": lambda: _day(DEFAULT_TIMEZONE, 2026, 12, 31, 23, 0),
    "29-february": lambda: _day(DEFAULT_TIMEZONE, 2028, 2, 29, 12, 0),
    "dst-berlin": lambda: _day("Europe/Berlin", 2027, 3, 28, 1, 30),
}
on_days = pytest.mark.parametrize("clock", list(DAYS), indirect=True)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """The wall clock, or (with ``@on_days``) the day the test is run on."""
    day: str | None = getattr(request, "param", None)  # None: the wall clock
    return Clock() if day is None else DAYS[day]()


@pytest.fixture
def settings(tmp_path: Path, clock: Clock) -> Settings:
    return Settings(
        clock=clock,
        data_dir=tmp_path / "data",
        secret_key=secrets.token_bytes(32),
        ice_addresses=("127.0.0.1",),
        ice_servers=(),
        held_min_live_seconds=0.05,
        guarantee_interval_seconds=0,  # tests run the monthly guarantee themselves
        webhook_interval_seconds=0,  # and deliver webhooks themselves,
        webhook_allowed_hosts=("127.0.0.1",),  # to a portal on loopback
    )


@dataclass
class Academy:
    teacher_id: int
    other_teacher_id: int
    student_ids: list[int]
    outsider_id: int  # a student of another group
    staff_id: int
    group_id: int
    class_id: int
    other_class_id: int


def class_ahead(
    app: web.Application,
    academy: Academy,
    ahead: timedelta,
    format: ClassFormat = ClassFormat.LIVE_ONLINE,
    title: str = "Уголовный процесс",
) -> LiveClass:
    """A class of the academy's group and teacher, ``ahead`` of the application's clock, an
    hour long (today, whatever the day is)."""
    now = datetime.fromtimestamp(app[keys.SETTINGS].clock(), UTC)
    return app[keys.TIMETABLE].add_class(
        title=title, kind=ClassKind.LECTURE, format=format, teacher_id=academy.teacher_id,
        starts_at=now + ahead, ends_at=now + ahead + timedelta(hours=1),
        group_ids=(academy.group_id,), on_day_off=True,
    )  # fmt: skip


def seed_academy(app: web.Application, students: int = 20) -> Academy:
    clock = app[keys.SETTINGS].clock
    zone = clock.zone if isinstance(clock, Clock) else DEFAULT_TIMEZONE
    return seed_into(app[keys.ACCOUNTS], app[keys.TIMETABLE], students, clock, zone)


def seed_into(
    accounts: SqliteAccounts,
    tt: SqliteTimetable,
    students: int = 20,
    clock: Callable[[], float] = time.time,
    zone: str = DEFAULT_TIMEZONE,
) -> Academy:
    """Staff, two groups in ``zone`` and a class of each starting now (by ``clock``)."""

    def user(login: str, name: str, role: Role) -> int:
        return accounts.create_user(login=login, full_name=name, role=role).id

    director = user("director", "Серик Ахметов", Role.DIRECTOR)
    head = user("head", "Гаухар Нургалиева", Role.HEAD_OF_DEPARTMENT)
    teacher = user("teacher", "Марат Искаков", Role.TEACHER)
    other_teacher = user("teacher2", "Алма Бекова", Role.TEACHER)
    staff = user("staff", "Жанна Серикбаева", Role.STAFF)
    inst = tt.add_institute("Институт", director)
    dept = tt.add_department(inst.id, "Кафедра", head)
    group = tt.add_group("ПД-24-1", dept.id, "ru", zone)
    other = tt.add_group("ПД-24-2", dept.id, "kk", zone)
    tt.add_teacher(group.id, teacher)
    tt.add_teacher(other.id, other_teacher)
    ids = [
        user(f"student{i:02d}", f"Студент {i:02d}", Role.STUDENT) for i in range(1, students + 1)
    ]
    tt.add_members(group.id, ids)
    outsider = user("outsider", "Чужой Студент", Role.STUDENT)
    tt.add_members(other.id, [outsider])
    now = datetime.fromtimestamp(clock(), UTC)
    c = tt.add_class(
        title="Уголовное право",
        kind=ClassKind.LECTURE,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=teacher,
        starts_at=now,
        ends_at=now + timedelta(minutes=90),
        group_ids=(group.id,),
        on_day_off=True,  # now, whatever the day is
    )
    c2 = tt.add_class(
        title="Гражданское право",
        kind=ClassKind.SEMINAR,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=other_teacher,
        starts_at=now,
        ends_at=now + timedelta(minutes=90),
        group_ids=(other.id,),
        on_day_off=True,
    )
    return Academy(teacher, other_teacher, ids, outsider, staff, group.id, c.id, c2.id)


@pytest.fixture
def timetable(clock: Clock) -> Iterator[tuple[SqliteTimetable, Academy, SqliteAccounts]]:
    """A small academy (three students) in an in-memory database, without a server."""
    db = connect(":memory:")
    accounts, tt = SqliteAccounts(db, clock), SqliteTimetable(db, clock)
    academy = seed_into(accounts, tt, 3, clock, clock.zone)
    yield tt, academy, accounts
    db.close()


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[TestServer]:
    """The whole application on a free loopback port."""
    server = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def academy(served: TestServer) -> Academy:
    return seed_academy(served.app)


Client = TestClient[web.Request, web.Application]
SignIn = Callable[[int], Client]


@pytest.fixture
async def sign_in(served: TestServer) -> AsyncIterator[SignIn]:
    """A factory of HTTP clients, each signed in as one user, with a CSRF cookie."""
    clients: list[Client] = []

    def make(user_id: int) -> Client:
        token, _ = served.app[keys.ACCOUNTS].open_session(user_id)
        client: Client = TestClient(served)
        csrf = secrets.token_urlsafe(16)
        client.session.cookie_jar.update_cookies(
            {SESSION_COOKIE: token, CSRF_COOKIE: csrf}, served.make_url("/")
        )
        client.session.headers["X-CSRF-Token"] = csrf
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


SignInTo = Callable[[TestServer, int], Client]


@pytest.fixture
async def sign_in_to() -> AsyncIterator[SignInTo]:
    """HTTP clients signed in to a given server as one user each."""
    clients: list[Client] = []

    def make(server: TestServer, user_id: int) -> Client:
        token, _ = server.app[keys.ACCOUNTS].open_session(user_id)
        client: Client = TestClient(server)
        csrf = secrets.token_urlsafe(16)
        client.session.cookie_jar.update_cookies(
            {SESSION_COOKIE: token, CSRF_COOKIE: csrf}, server.make_url("/")
        )
        client.session.headers["X-CSRF-Token"] = csrf
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()
