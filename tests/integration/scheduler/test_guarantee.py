"""The monthly guarantee (clause 9): after a pass, every active group-month in the horizon has
a held or planned live class, or an alert; a second pass changes nothing; no pass creates a
conflict — for any timetable and any sequence of cancellations and missed classes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from itertools import combinations

from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.models import Role
from access.sqlite_store import SqliteAccounts
from control.database import connect
from scheduler.errors import ClassConflict
from scheduler.guarantee import (
    ALERT_NO_SLOT,
    ALERT_NO_TEACHER,
    CONFIRMED_UNANSWERED,
    PLANNED_NO_CLASS,
    SETTLING,
    Guarantee,
    GuaranteeRules,
)
from scheduler.guarantee_months import MonthState, month_states, months
from scheduler.models import (
    OCCUPYING,
    ClassFormat,
    ClassKind,
    ClassStatus,
    LiveClass,
    TimetableAction,
    zone,
)
from scheduler.sqlite_store import Actor, ClassSpec, SqliteTimetable
from tests.conftest import Academy, Clock, SignIn, on_days
from tests.integration.attendance.test_reports import english
from web.core import keys

ALMATY = "Asia/Almaty"
STAFF = Actor(1, "Жанна Серикбаева")


def title(_group: object) -> str:
    return "Онлайн-занятие"


# -- a worked example ----------------------------------------------------------------------------
def test_a_group_without_a_live_class_gets_one_and_an_impossible_month_an_alert(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    for c in tt.all_classes():  # the seeded classes start now; clear the slate
        tt.cancel_class(c.id, by=STAFF, reason="test")
    other = tt.groups_of_member(a.outsider_id)[0]
    tt.set_active(other.id, False)
    # Monday 2030-09-02 08:00 in Almaty; two days' notice: Wednesday 4th 09:00 is the first slot.
    now = datetime(2030, 9, 2, 3, 0, tzinfo=UTC)
    job = Guarantee(tt, GuaranteeRules(months_ahead=1), title)
    report = job.run(now)
    assert len(report.planned) == 2 and not report.alerts  # September and October
    first = tt.get_class(report.planned[0])
    assert first.starts_at == datetime(2030, 9, 4, 4, 0, tzinfo=UTC)  # 09:00 UTC+5
    assert first.format is ClassFormat.LIVE_ONLINE and first.group_ids == (a.group_id,)
    changes = {ch.action: ch.reason for ch in tt.changes(class_id=first.id)}
    assert changes[TimetableAction.PLANNED] == f"{PLANNED_NO_CLASS}:2030-09"
    # Two days ahead, within the three days before it: nobody has the time to confirm it.
    assert changes[TimetableAction.CONFIRMED] == CONFIRMED_UNANSWERED
    assert tt.get_class(report.planned[1]).proposed  # October's awaits a person
    states = month_states(tt, tt.group(a.group_id), [date(2030, 9, 1)], now)
    assert states[0].state is MonthState.AMBER and states[0].class_id == first.id
    assert job.run(now).planned == []  # idempotent

    # Cancelled on Sunday 29th: with two days' notice no working day is left in September.
    late = datetime(2030, 9, 29, 12, 0, tzinfo=UTC)
    tt.cancel_class(first.id, by=STAFF, reason="болезнь")
    report = job.run(late)
    assert report.alerts == [(a.group_id, "2030-09", ALERT_NO_SLOT)]
    assert tt.open_alerts() == {(a.group_id, "2030-09"): ALERT_NO_SLOT}
    assert job.run(late).alerts == []  # raised once
    states = month_states(tt, tt.group(a.group_id), [date(2030, 9, 1)], late)
    assert states[0].state is MonthState.RED and states[0].alert == ALERT_NO_SLOT
    assert any(ch.action is TimetableAction.ALERT for ch in tt.changes(group_id=a.group_id))
    # Staff plan one for Monday 30th by hand: the alert clears on the next pass.
    monday = datetime(2030, 9, 30, 5, 0, tzinfo=UTC)
    tt.add_class(
        title="Консультация", kind=ClassKind.CONSULTATION, format=ClassFormat.LIVE_ONLINE,
        teacher_id=a.teacher_id, starts_at=monday, ends_at=monday + timedelta(hours=1),
        group_ids=(a.group_id,),
    )  # fmt: skip
    assert job.run(late).cleared == [(a.group_id, "2030-09")]
    assert tt.open_alerts() == {}


@on_days
def test_a_planned_live_class_whose_end_passed_unstarted_is_missed(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts], clock: Clock
) -> None:
    tt, a, _ = timetable
    job = Guarantee(tt, GuaranteeRules(months_ahead=0), title)
    later = clock.now() + timedelta(hours=14)
    report = job.run(later)
    assert set(report.missed) == {a.class_id, a.other_class_id}
    assert tt.get_class(a.class_id).status is ClassStatus.MISSED


# -- properties ------------------------------------------------------------------------------------
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)

existing_class = st.tuples(
    st.integers(0, 2),  # group
    st.integers(0, 2),  # teacher
    st.integers(0, 100),  # day after EPOCH
    st.integers(6, 20),  # hour (UTC)
    st.sampled_from([30, 60, 80, 120]),  # minutes
    st.sampled_from([*ClassStatus]),
    st.sampled_from([*ClassFormat]),
)
rules = st.builds(
    GuaranteeRules,
    working_days=st.frozensets(st.integers(0, 6), min_size=1),
    day_starts=st.sampled_from([time(8), time(9), time(14)]),
    day_ends=st.sampled_from([time(17), time(18), time(20)]),
    class_minutes=st.sampled_from([45, 80, 90]),
    step_minutes=st.sampled_from([15, 30, 60]),
    notice_days=st.integers(0, 10),
    months_ahead=st.integers(0, 2),
)
teaching = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=6)
changes = st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["cancel", "miss"])), max_size=6)


def build(
    db: sqlite3.Connection,
    classes: list[tuple[int, int, int, int, int, ClassStatus, ClassFormat]],
    teaches: list[tuple[int, int]],
    zones: list[str],
    shared: bool = False,
) -> SqliteTimetable:
    accounts, tt = SqliteAccounts(db), SqliteTimetable(db)
    inst = tt.add_institute("Институт", None)
    dept = tt.add_department(inst.id, "Кафедра", None)
    teachers = [
        accounts.create_user(login=f"t{i}", full_name=f"Оқытушы {i}", role=Role.TEACHER).id
        for i in range(3)
    ]
    groups = [tt.add_group(f"Г-{i}", dept.id, "kk", zones[i]).id for i in range(3)]
    for i, g in enumerate(groups):
        student = accounts.create_user(login=f"s{i}", full_name=f"Студент {i}", role=Role.STUDENT)
        tt.add_members(g, [student.id])
    if shared:  # a student in every group: their classes must not overlap either
        both = accounts.create_user(login="shared", full_name="Ортақ", role=Role.STUDENT)
        for g in groups:
            tt.add_members(g, [both.id])
    tt.add_teacher(groups[0], teachers[0])  # one group always has a teacher
    for g, t in teaches:
        tt.add_teacher(groups[g], teachers[t])
    for g, t, day, hour, minutes, status, fmt in classes:
        if not tt.is_teacher_of(teachers[t], groups[g]):
            continue
        start = EPOCH + timedelta(days=day, hours=hour)
        try:
            c = tt.add_classes(
                [ClassSpec("Сабақ", ClassKind.LECTURE, fmt, teachers[t], start,
                           start + timedelta(minutes=minutes), (groups[g],))],
                on_day_off=True,  # what was planned before may sit on a holiday
            )[0]  # fmt: skip
        except ClassConflict:
            continue
        path = {
            ClassStatus.PLANNED: [],
            ClassStatus.LIVE: [ClassStatus.LIVE],
            ClassStatus.HELD: [ClassStatus.LIVE, ClassStatus.HELD],
            ClassStatus.CANCELLED: [ClassStatus.CANCELLED],
            ClassStatus.MISSED: [ClassStatus.MISSED],
        }[status]
        for step in path:
            tt.set_status(c.id, step)
    return tt


def snapshot(db: sqlite3.Connection) -> tuple[object, ...]:
    return (
        db.execute("SELECT id, status, starts_at, ends_at, teacher_id FROM classes").fetchall(),
        db.execute("SELECT * FROM guarantee_alerts").fetchall(),
        db.execute("SELECT COUNT(*) FROM timetable_log").fetchone()[0],
    )


def check_after_pass(tt: SqliteTimetable, now: datetime, r: GuaranteeRules) -> None:
    alerts = tt.open_alerts()
    everything = [tt.get_class(row[0]) for row in tt._db.execute("SELECT id FROM classes")]
    for group in tt.groups():
        tz = zone(group.timezone)
        for first in months(now.astimezone(tz).date(), r.months_ahead + 1):
            settled = any(
                c.format is ClassFormat.LIVE_ONLINE
                and c.status in SETTLING
                and group.id in c.group_ids
                and c.starts_at.astimezone(tz).date().replace(day=1) == first
                for c in everything
            )
            assert settled or (group.id, f"{first:%Y-%m}") in alerts, (group.name, first)
    # Nothing the timetable holds puts a teacher or a group in two classes at once.
    busy = [c for c in everything if c.status in OCCUPYING]
    for x, y in combinations(busy, 2):
        if x.overlaps(y.starts_at, y.ends_at):
            assert x.teacher_id != y.teacher_id, (x, y)
            assert not set(x.group_ids) & set(y.group_ids), (x, y)
            assert not set(tt.learners(x)) & set(tt.learners(y)), (x, y)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    classes=st.lists(existing_class, max_size=12),
    teaches=teaching,
    r=rules,
    now_day=st.integers(0, 90),
    now_hour=st.integers(0, 23),
    later=changes,
    zones=st.lists(st.sampled_from([ALMATY, "Asia/Aqtobe", "Europe/Moscow"]), min_size=3,
                   max_size=3),
    shared=st.booleans(),
)  # fmt: skip
def test_every_active_group_month_has_a_live_class_or_an_alert(
    classes: list[tuple[int, int, int, int, int, ClassStatus, ClassFormat]],
    teaches: list[tuple[int, int]],
    r: GuaranteeRules,
    now_day: int,
    now_hour: int,
    later: list[tuple[int, str]],
    zones: list[str],
    shared: bool,
) -> None:
    db = connect(":memory:")
    try:
        tt = build(db, classes, teaches, zones, shared)
        job = Guarantee(tt, r, title)
        now = EPOCH + timedelta(days=now_day, hours=now_hour)
        job.run(now)
        check_after_pass(tt, now, r)
        before = snapshot(db)
        job.run(now)
        assert snapshot(db) == before  # idempotent
        # Cancellations and missed classes, a little later each time: the next pass repairs.
        for step, (days, what) in enumerate(later):
            planned: list[LiveClass] = [
                c for c in tt.all_classes(1000) if c.status is ClassStatus.PLANNED
            ]
            if planned:
                victim = planned[(days * 7 + step) % len(planned)]
                if what == "cancel":
                    tt.cancel_class(victim.id, by=STAFF, reason="test")
                else:
                    tt.set_status(victim.id, ClassStatus.MISSED)
            now += timedelta(days=days % 5, hours=days)
            job.run(now)
            check_after_pass(tt, now, r)
            before = snapshot(db)
            job.run(now)
            assert snapshot(db) == before
    finally:
        db.close()


# -- what staff see ------------------------------------------------------------------------------
@on_days
async def test_staff_see_each_group_month_and_the_alerts_on_their_dashboard(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt = served.app[keys.TIMETABLE]
    dept = tt.group(academy.group_id).department_id
    orphan = tt.add_group("ПД-24-9", dept, "kk", clock.zone)  # active, and nobody teaches it
    report = served.app[keys.GUARANTEE].run(clock.now())
    this_month = clock.today().strftime("%Y-%m")
    assert (orphan.id, this_month, ALERT_NO_TEACHER) in report.alerts
    planned = [tt.get_class(c) for c in report.planned]
    # The seeded classes settle this month; next month gets a class titled in the group's
    # language (ПД-24-1 learns in Russian, ПД-24-2 in Kazakh).
    titles = {c.group_ids[0]: c.title for c in planned}
    assert titles[academy.group_id] == "Онлайн-занятие (ежемесячная гарантия)"
    assert (
        titles[tt.groups_of_member(academy.outsider_id)[0].id]
        == "Онлайн сабақ (ай сайынғы кепілдік)"
    )

    staff = english(sign_in(academy.staff_id), served)
    page = await staff.get("/timetable/guarantee")
    html = await page.text()
    assert page.status == 200 and "ПД-24-9" in html and 'data-state="red"' in html
    assert 'data-state="amber"' in html and "the group has no teacher" in html
    home = await staff.get("/")
    assert "The monthly guarantee needs you" in await home.text()
    alerts = await (await staff.get("/api/v1/guarantee/alerts")).json()
    assert {(a["group_id"], a["reason"]) for a in alerts["alerts"]} >= {(orphan.id, "no_teacher")}
    student = sign_in(academy.student_ids[0])
    assert (await student.get("/timetable/guarantee")).status == 403
    assert "The monthly guarantee needs you" not in await (await student.get("/")).text()
    card = await staff.get(f"/timetable/classes/{planned[0].id}")
    assert "Planned by the monthly guarantee" in await card.text()


class Witness:
    """``HeldEvidence`` as the ledger would answer it, for the classes listed as held."""

    def __init__(self, held: set[int]) -> None:
        self.held = held

    def was_held(self, live_class: LiveClass) -> bool:
        return live_class.id in self.held


@on_days
def test_a_class_left_live_long_after_its_end_is_decided_on_the_evidence(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts], clock: Clock
) -> None:
    tt, a, _ = timetable
    for cid in (a.class_id, a.other_class_id):
        tt.set_status(cid, ClassStatus.LIVE)
    job = Guarantee(tt, GuaranteeRules(months_ahead=0), title, Witness({a.class_id}))
    soon = clock.now() + timedelta(hours=6)  # ended hours ago: it may be overrunning
    assert job.run(soon).closed == []
    later = clock.now() + timedelta(hours=14)
    assert sorted(job.run(later).closed) == sorted([a.class_id, a.other_class_id])
    assert tt.get_class(a.class_id).status is ClassStatus.HELD
    assert tt.get_class(a.other_class_id).status is ClassStatus.MISSED


def test_the_guarantee_plans_only_within_the_study_period(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    dept = tt.group(a.group_id).department_id
    late = tt.add_group("ПД-30-1", dept, "ru", ALMATY, starts_on=date(2030, 9, 20))
    ended = tt.add_group("ПД-30-2", dept, "ru", ALMATY, ends_on=date(2030, 9, 3))
    for g in (late, ended):
        tt.add_teacher(g.id, a.other_teacher_id)
    for g in tt.groups():
        if g.id not in (late.id, ended.id):
            tt.set_active(g.id, False)
    now = datetime(2030, 9, 2, 3, 0, tzinfo=UTC)  # notice: the 4th at the earliest
    report = Guarantee(tt, GuaranteeRules(months_ahead=0), title).run(now)
    (planned,) = [tt.get_class(c) for c in report.planned]
    assert planned.group_ids == (late.id,)
    assert planned.starts_at.astimezone(zone(ALMATY)).date() >= date(2030, 9, 20)
    assert report.alerts == [(ended.id, "2030-09", ALERT_NO_SLOT)]
