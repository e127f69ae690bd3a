"""The monthly guarantee under the academy calendar and the study periods: it never plans on a
non-working day, never outside a group's study period, never for an inactive group, and after a
pass every month of each active group's study period (from "today") has a live class or an
alert — for any "today" of the year, 1 January, 29 February and 31 December among them. And
the timetable refuses, with the reason, what the guarantee must not do."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from access.models import Role
from access.sqlite_store import SqliteAccounts
from control.database import connect
from scheduler.errors import GroupInactive, NonWorkingDay, OutsideStudyPeriod
from scheduler.guarantee import (
    SETTLING,
    Guarantee,
    GuaranteeRules,
)
from scheduler.guarantee_months import months_owed
from scheduler.models import ClassFormat, ClassKind, ClassStatus, LiveClass, zone
from scheduler.sqlite_store import Actor, SqliteTimetable
from scheduler.workdays import DayKind

STAFF = Actor(1, "Жанна Серикбаева")
ZONES = ("Asia/Almaty", "Asia/Aqtobe", "Europe/Moscow")


def title(_group: object) -> str:
    return "Онлайн-занятие"


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = connect(":memory:")
    yield conn
    conn.close()


def academy(
    db: sqlite3.Connection,
    periods: list[tuple[int, int, bool, int]],
    staff_days: list[tuple[int, DayKind]],
) -> SqliteTimetable:
    """Groups with study periods (start as days after 2027-01-01, length in days, active,
    zone), each taught by its own teacher and one shared; days staff set (days after
    2027-01-01)."""
    accounts, tt = SqliteAccounts(db), SqliteTimetable(db)
    inst = tt.add_institute("Институт", None)
    dept = tt.add_department(inst.id, "Кафедра", None)
    shared = accounts.create_user(login="shared", full_name="Ортақ", role=Role.TEACHER).id
    base = date(2027, 1, 1)
    for i, (start, length, active, z) in enumerate(periods):
        starts = base + timedelta(days=start)
        g = tt.add_group(
            f"Г-{i}", dept.id, "ru", ZONES[z], starts_on=starts,
            ends_on=starts + timedelta(days=length), active=active,
        )  # fmt: skip
        own = accounts.create_user(login=f"t{i}", full_name=f"Оқытушы {i}", role=Role.TEACHER)
        tt.add_teacher(g.id, own.id)
        tt.add_teacher(g.id, shared)
        learner = accounts.create_user(login=f"s{i}", full_name=f"Студент {i}", role=Role.STUDENT)
        tt.add_members(g.id, [learner.id])
    for offset, kind in staff_days:
        tt.set_day(base + timedelta(days=offset), kind, "Решение академии", by=STAFF)
    return tt


def check(tt: SqliteTimetable, now: datetime, rules: GuaranteeRules) -> None:
    """What the guarantee promises after a pass at ``now``."""
    calendar = tt.academy_calendar()
    alerts = tt.open_alerts()
    classes: list[LiveClass] = [
        tt.get_class(r[0]) for r in tt._db.execute("SELECT id FROM classes").fetchall()
    ]
    for c in classes:
        for g in map(tt.group, c.group_ids):
            day = c.starts_at.astimezone(zone(g.timezone)).date()
            assert g.active, (g.name, c)  # never for an inactive group
            assert g.starts_on and g.ends_on and g.starts_on <= day <= g.ends_on, (g.name, day)
            assert calendar.is_working(day, rules.working_days), (g.name, day)  # never off
            assert calendar.day_off(day) is None or calendar.worked(day), (g.name, day)
    for g in tt.groups():
        if not g.active:
            continue
        tz = zone(g.timezone)
        for first in months_owed(g, now.astimezone(tz).date(), rules.months_ahead):
            settled = any(
                g.id in c.group_ids
                and c.format is ClassFormat.LIVE_ONLINE
                and c.status in SETTLING
                and c.starts_at.astimezone(tz).date().replace(day=1) == first
                for c in classes
            )
            assert settled or (g.id, f"{first:%Y-%m}") in alerts, (g.name, first)


period = st.tuples(
    st.integers(-200, 500),  # start: days after 2027-01-01
    st.integers(0, 420),  # length in days
    st.booleans(),  # active
    st.integers(0, len(ZONES) - 1),
)
rules = st.builds(
    GuaranteeRules,
    working_days=st.frozensets(st.integers(0, 6), min_size=1),
    day_starts=st.sampled_from([time(8), time(9), time(14)]),
    day_ends=st.sampled_from([time(17), time(18)]),
    notice_days=st.integers(0, 5),
    months_ahead=st.integers(0, 2),
)
staff_day = st.tuples(st.integers(0, 730), st.sampled_from([*DayKind]))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    periods=st.lists(period, min_size=1, max_size=4),
    staff_days=st.lists(staff_day, max_size=8, unique_by=lambda d: d[0]),
    today=st.dates(min_value=date(2027, 1, 1), max_value=date(2028, 12, 31)),
    hour=st.integers(0, 23),
    r=rules,
)
@example(periods=[(240, 300, True, 0)], staff_days=[], today=date(2027, 1, 1), hour=0,
         r=GuaranteeRules()).via("New Year's Day")  # fmt: skip
@example(periods=[(-100, 800, True, 0), (400, 200, True, 1)],
         staff_days=[(425, DayKind.DAY_OFF)], today=date(2028, 2, 29), hour=12,
         r=GuaranteeRules(months_ahead=0)).via("29 February")  # fmt: skip
@example(periods=[(0, 730, True, 2), (0, 730, False, 0)], staff_days=[(731, DayKind.WORKING_DAY)],
         today=date(2027, 12, 31), hour=23, r=GuaranteeRules()).via("31 December")  # fmt: skip
def test_the_guarantee_keeps_the_calendar_and_the_study_periods_on_any_day(
    periods: list[tuple[int, int, bool, int]],
    staff_days: list[tuple[int, DayKind]],
    today: date,
    hour: int,
    r: GuaranteeRules,
) -> None:
    db = connect(":memory:")
    try:
        tt = academy(db, periods, staff_days)
        now = datetime.combine(today, time(hour), zone("Asia/Almaty")).astimezone(UTC)
        job = Guarantee(tt, r, title)
        job.run(now)
        check(tt, now, r)
        assert job.run(now).planned == []  # a second pass changes nothing
        # A week on, with the first class cancelled: still every month, still no day off.
        first = tt._db.execute("SELECT id FROM classes ORDER BY starts_at LIMIT 1").fetchone()
        if first is not None and tt.get_class(first[0]).status is ClassStatus.PLANNED:
            tt.cancel_class(first[0], by=STAFF, reason="болезнь")
        later = now + timedelta(days=7)
        job.run(later)
        check(tt, later, r)
    finally:
        db.close()


def test_a_whole_study_year_with_the_job_run_every_day(db: sqlite3.Connection) -> None:
    """One group, 1 September 2027 to 30 June 2028; the job runs every morning, classes are
    held when their time comes. Every month gets its live class, never on a day off, and
    January, which the academy takes off whole, gets an alert, not a class on a day off."""
    tt = academy(db, [(243, 303, True, 0)], [])
    g = tt.groups()[0]
    assert (g.starts_on, g.ends_on) == (date(2027, 9, 1), date(2028, 6, 30))
    # The academy's winter break: every day of January 2028 off; no working day is left.
    for offset in range(0, 31):
        day = date(2028, 1, 1) + timedelta(days=offset)
        tt.set_day(day, DayKind.DAY_OFF, "Зимние каникулы", by=STAFF)
    rules = GuaranteeRules(notice_days=2)
    job = Guarantee(tt, rules, title)
    tz = zone(g.timezone)
    day = date(2027, 8, 1)
    while day <= date(2028, 7, 31):
        now = datetime.combine(day, time(6), tz).astimezone(UTC)
        for c in tt.classes_of_group(g.id, now - timedelta(days=40), now):
            if c.status is ClassStatus.PLANNED and c.ends_at <= now:
                tt.set_status(c.id, ClassStatus.LIVE)
                tt.set_status(c.id, ClassStatus.HELD)
        job.run(now)
        check(tt, now, rules)
        day += timedelta(days=1)
    calendar = tt.academy_calendar()
    held = {
        c.starts_at.astimezone(tz).date()
        for c in tt.classes_of_group(g.id)
        if c.status is ClassStatus.HELD
    }
    months_held = {d.replace(day=1) for d in held}
    study = [date(2027, m, 1) for m in range(9, 13)] + [date(2028, m, 1) for m in range(1, 7)]
    assert months_held == set(study) - {date(2028, 1, 1)}
    assert all(calendar.is_working(d, rules.working_days) for d in held)
    assert (g.id, "2028-01") in tt.open_alerts()
    # 1 May 2028 (a Monday) is a holiday: May's class is on Tuesday the 2nd.
    assert date(2028, 5, 1) not in held and date(2028, 5, 2) in held
    every = [c.starts_at.astimezone(tz).date() for c in tt.classes_of_group(g.id)]
    assert min(every) >= date(2027, 9, 1) and max(every) <= date(2028, 6, 30)


def test_the_timetable_refuses_what_the_guarantee_may_not_do(db: sqlite3.Connection) -> None:
    tt = academy(db, [(243, 303, True, 0), (243, 303, False, 0)], [(250, DayKind.DAY_OFF)])
    active, inactive = tt.groups()
    teacher = tt.teachers(active.id)[0]
    tz = zone(active.timezone)

    def plan(group_id: int, day: date, *, on_day_off: bool = False) -> LiveClass:
        start = datetime.combine(day, time(10), tz)
        return tt.add_class(
            title="Лекция", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=teacher, starts_at=start, ends_at=start + timedelta(minutes=80),
            group_ids=(group_id,), on_day_off=on_day_off,
        )  # fmt: skip

    with pytest.raises(OutsideStudyPeriod) as before:
        plan(active.id, date(2027, 8, 31))
    assert before.value.starts_on == date(2027, 9, 1) and before.value.group == active.name
    with pytest.raises(OutsideStudyPeriod):
        plan(active.id, date(2028, 7, 3))
    with pytest.raises(GroupInactive):
        plan(inactive.id, date(2027, 9, 7))
    with pytest.raises(NonWorkingDay) as holiday:
        plan(active.id, date(2027, 12, 16))
    assert holiday.value.name == "Independence Day"
    with pytest.raises(NonWorkingDay) as own:
        plan(active.id, date(2027, 9, 8))  # the day staff set off
    assert own.value.name == "Решение академии"
    confirmed = plan(active.id, date(2027, 12, 16), on_day_off=True)
    c = plan(active.id, date(2027, 9, 7))
    with pytest.raises(OutsideStudyPeriod):
        tt.move_class(c.id, *(datetime.combine(date(2028, 7, 4), time(h), tz) for h in (10, 11)),
                      by=STAFF, reason="")  # fmt: skip
    with pytest.raises(NonWorkingDay):
        tt.move_class(c.id, *(datetime.combine(date(2028, 1, 1), time(h), tz) for h in (10, 11)),
                      by=STAFF, reason="")  # fmt: skip
    assert {x.id for x in tt.classes_of_group(active.id)} == {confirmed.id, c.id}
    assert tt.classes_of_group(inactive.id) == []
