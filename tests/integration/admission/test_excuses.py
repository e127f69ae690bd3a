"""Excuse requests (clause 12): staff file, only the institute's director decides, an approval
excuses the learner's classes of those days in every register and report, and staff plan
individual make-up classes under the timetable's conflict checks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer

from access.models import Role
from access.sqlite_store import SqliteAccounts
from admission.models import ExcuseReason, ExcuseRequest, ExcuseStatus, Sitting, excused
from scheduler.errors import ClassConflict
from scheduler.models import ClassFormat, ClassKind, ClassStatus
from scheduler.sqlite_store import SqliteTimetable
from scheduler.workdays import AcademyCalendar
from tests.conftest import Academy, SignIn
from tests.days import working_day
from tests.integration.attendance.test_reports import english, march, rows_of
from web.core import keys

ALMATY = "Asia/Almaty"


def request_for(
    first: date, last: date, status: ExcuseStatus = ExcuseStatus.APPROVED
) -> ExcuseRequest:
    return ExcuseRequest(
        id=1, learner_id=7, group_id=1, reason=ExcuseReason.ILLNESS, first_day=first,
        last_day=last, document="Справка № 12", details="", status=status, filed_by=2,
        filed_at=0.0,
    )  # fmt: skip


def sitting(class_id: int, start: datetime, minutes: int = 80) -> Sitting:
    return Sitting(class_id, start, start + timedelta(minutes=minutes), (1,), (7, 8))


def test_an_approved_request_excuses_the_learners_classes_of_those_local_days() -> None:
    r = request_for(date(2026, 3, 16), date(2026, 3, 17))
    classes = [
        # 2026-03-15 23:30 in Almaty is 18:30 UTC: the day before, not covered.
        sitting(1, datetime(2026, 3, 15, 18, 30, tzinfo=UTC), minutes=20),
        # 2026-03-16 00:10 in Almaty is still 2026-03-15 in UTC: covered.
        sitting(2, datetime(2026, 3, 15, 19, 10, tzinfo=UTC)),
        sitting(3, datetime(2026, 3, 17, 18, 50, tzinfo=UTC)),  # 23:50 on the last day
        sitting(4, datetime(2026, 3, 17, 19, 0, tzinfo=UTC)),  # 00:00 the day after
        # A class that runs into the first day from the evening before is covered too.
        sitting(5, datetime(2026, 3, 15, 18, 30, tzinfo=UTC), minutes=60),
    ]
    zones = {1: ALMATY}
    assert excused(classes, [r], zones) == {2: {7}, 3: {7}, 5: {7}}
    # Only approved requests excuse; other learners are untouched.
    for status in (ExcuseStatus.PENDING, ExcuseStatus.REJECTED):
        assert excused(classes, [request_for(r.first_day, r.last_day, status)], zones) == {}
    # A request excuses the classes of its own group only (its director decided it)...
    other_group = [Sitting(9, s.starts_at, s.ends_at, (2,), s.learner_ids) for s in classes[1:2]]
    assert excused(other_group, [r], zones) == {}
    # ...and reads its days in that group's zone: 2026-03-15 19:10 UTC is still the 15th in
    # Moscow (UTC+3), so the class is not in a request of the 16th-17th of a Moscow group.
    assert excused(classes, [r], {1: "Europe/Moscow"}) == {3: {7}, 4: {7}}


def test_the_days_are_those_of_the_groups_time_zone() -> None:
    # 2026-03-16 03:00 UTC is 08:00 in Almaty but still the 15th in New York.
    moment = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)
    r = request_for(date(2026, 3, 16), date(2026, 3, 16))
    assert r.covers(moment, moment + timedelta(hours=1), ALMATY)
    assert not r.covers(moment, moment + timedelta(hours=1), "America/New_York")


@pytest.mark.parametrize(
    ("first", "last", "document", "message"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), "Справка", "ends before"),
        (date(2025, 3, 1), date(2026, 3, 2), "Справка", "at most a year"),
        (date(2026, 3, 1), date(2026, 3, 2), " ", "document"),
    ],
)
def test_a_request_without_sense_is_refused(
    first: date, last: date, document: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ExcuseRequest(
            1, 7, 1, ExcuseReason.OTHER, first, last, document, "", ExcuseStatus.PENDING, 2, 0.0
        )


# -- the timetable's conflict checks ---------------------------------------------------------------
_DAY = working_day(AcademyCalendar(), (datetime.now(UTC) + timedelta(days=1)).date())
TOMORROW = datetime(_DAY.year, _DAY.month, _DAY.day, 5, tzinfo=UTC)  # 10:00 in Almaty


def plan(
    tt: SqliteTimetable,
    teacher: int,
    groups: tuple[int, ...],
    start: datetime,
    minutes: int = 80,
    learners: tuple[int, ...] = (),
    title: str = "Криминология",
) -> int:
    return tt.add_class(
        title=title, kind=ClassKind.SEMINAR, format=ClassFormat.LIVE_ONLINE, teacher_id=teacher,
        starts_at=start, ends_at=start + timedelta(minutes=minutes), group_ids=groups,
        learner_ids=learners,
    ).id  # fmt: skip


def test_a_teacher_or_a_group_in_two_classes_at_once_is_refused_with_the_class_named(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _accounts = timetable
    other_group = tt.groups_of_member(a.outsider_id)[0].id
    tt.add_teacher(other_group, a.teacher_id)
    tt.add_teacher(a.group_id, a.other_teacher_id)
    first = plan(tt, a.teacher_id, (a.group_id,), TOMORROW, title="Уголовный процесс")
    with pytest.raises(ClassConflict) as teacher:
        plan(tt, a.teacher_id, (other_group,), TOMORROW + timedelta(minutes=79))
    assert teacher.value.who == "teacher" and teacher.value.conflicting.id == first
    assert "Уголовный процесс" in str(teacher.value)
    with pytest.raises(ClassConflict) as group:
        plan(tt, a.other_teacher_id, (a.group_id,), TOMORROW - timedelta(minutes=30))
    assert group.value.who == "group" and group.value.conflicting.id == first
    # Back to back is fine; so is another group with another teacher at the same time.
    plan(tt, a.teacher_id, (a.group_id,), TOMORROW + timedelta(minutes=80))
    plan(tt, a.other_teacher_id, (other_group,), TOMORROW)
    # A cancelled class frees its time.
    tt.set_status(first, ClassStatus.CANCELLED)
    plan(tt, a.teacher_id, (a.group_id,), TOMORROW - timedelta(minutes=80))


def test_an_individual_class_is_its_learners_alone_and_checked_against_their_classes(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _accounts = timetable
    s1, s2, _s3 = a.student_ids
    tt.add_teacher(a.group_id, a.other_teacher_id)
    group_class = plan(tt, a.teacher_id, (a.group_id,), TOMORROW)
    with pytest.raises(ClassConflict) as learner:
        plan(tt, a.other_teacher_id, (a.group_id,), TOMORROW + timedelta(minutes=30), 30, (s1,))
    assert learner.value.who == "learner" and learner.value.conflicting.id == group_class
    later = TOMORROW + timedelta(hours=3)
    makeup = tt.get_class(plan(tt, a.other_teacher_id, (a.group_id,), later, 40, (s1,)))
    assert makeup.individual and tt.learners(makeup) == [s1]
    # Another student's make-up with another teacher at the same time does not clash with it...
    plan(tt, a.teacher_id, (a.group_id,), later, 40, (s2,))
    # ...but a class for the whole group now would put both students in two classes at once.
    third = _accounts.create_user(login="teacher3", full_name="Ерлан Сапаров", role=Role.TEACHER)
    tt.add_teacher(a.group_id, third.id)
    with pytest.raises(ClassConflict) as group:
        plan(tt, third.id, (a.group_id,), later + timedelta(minutes=10), 20)
    assert group.value.who == "learner" and group.value.conflicting.id == makeup.id
    assert tt.is_learner(s1, makeup) and not tt.is_learner(s2, makeup)
    assert makeup.id in [c.id for c in tt.classes_of_learner(s1)]
    assert makeup.id not in [c.id for c in tt.classes_of_learner(s2)]
    with pytest.raises(ValueError, match="not members"):
        plan(
            tt, a.other_teacher_id, (a.group_id,), later + timedelta(hours=5), 40, (a.outsider_id,)
        )


# -- the whole way, through the pages -----------------------------------------------------------
def _filed_id(location: str) -> int:
    found = re.fullmatch(r"/excuses/(\d+)", location)
    assert found, location
    return int(found.group(1))


async def test_staff_file_only_the_director_decides_and_the_approval_excuses_the_classes(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts, tt = app[keys.ACCOUNTS], app[keys.TIMETABLE]
    _a, b, _april = march(served, academy)
    s1 = academy.student_ids[0]
    director = accounts.by_login("director")[0].id
    head = accounts.by_login("head")[0].id
    stranger = accounts.create_user(
        login="director2", full_name="Другой Директор", role=Role.DIRECTOR
    )
    tt.add_institute("Другой институт", stranger.id)
    staff = english(sign_in(academy.staff_id), served)

    form = await staff.get("/excuses/new")
    assert form.status == 200 and f'value="{academy.group_id}:{s1}"' in await form.text()
    bad = await staff.post(
        "/excuses",
        data={"learner": f"{academy.group_id}:{s1}", "reason": "illness",
              "first_day": "2026-03-17", "last_day": "2026-03-15", "document": "Справка"},
    )  # fmt: skip
    assert bad.status == 400 and "The last day comes after the first" in await bad.text()
    for learner, first, last in (
        (f"{academy.group_id}:{s1}", "9999-12-30", "9999-12-31"),
        (f"{academy.group_id}:{s1}", "0001-01-01", "0001-01-02"),
        (f"99999999999999999999:{s1}", "2026-03-15", "2026-03-16"),
        (f"{academy.group_id}:{academy.outsider_id}", "2026-03-15", "2026-03-16"),
    ):
        refused = await staff.post(
            "/excuses",
            data={"learner": learner, "reason": "illness", "first_day": first,
                  "last_day": last, "document": "Справка"},
        )  # fmt: skip
        assert refused.status == 400, (learner, first, refused.status)
    assert app[keys.EXCUSES].listed() == []  # nothing filed from a bad form
    filed = await staff.post(
        "/excuses",
        data={"learner": f"{academy.group_id}:{s1}", "reason": "illness",
              "first_day": "2026-03-15", "last_day": "2026-03-17",
              "document": "Справка № 0471 от 18.03.2026", "details": "Ауырып қалды"},
        allow_redirects=False,
    )  # fmt: skip
    assert filed.status == 303, await filed.text()
    rid = _filed_id(filed.headers["Location"])

    # Nobody but the director of the group's institute decides: not staff, not the head of the
    # department, not the teacher, not another institute's director.
    for who in (academy.staff_id, head, academy.teacher_id, stranger.id, s1):
        client = sign_in(who)
        resp = await client.post(
            f"/excuses/{rid}/decision", data={"decision": "approve", "comment": ""}
        )
        assert resp.status == 403, (who, resp.status)
    assert app[keys.EXCUSES].get(rid).status is ExcuseStatus.PENDING
    assert (await sign_in(academy.student_ids[1]).get(f"/excuses/{rid}")).status == 403
    assert (await sign_in(stranger.id).get(f"/excuses/{rid}")).status == 403

    boss = english(sign_in(director), served)
    queue = await boss.get("/excuses")
    assert f'href="/excuses/{rid}"' in await queue.text()
    page = await boss.get(f"/excuses/{rid}")
    html = await page.text()
    assert 'value="approve"' in html and "Справка № 0471" in html
    assert "Криминалистика" in html  # the class of 16 March is listed as affected
    no_reason = await boss.post(f"/excuses/{rid}/decision", data={"decision": "reject"})
    assert no_reason.status == 400 and "Say why" in await no_reason.text()
    ok = await boss.post(
        f"/excuses/{rid}/decision",
        data={"decision": "approve", "comment": "Документ проверен"},
        allow_redirects=False,
    )
    assert ok.status == 303
    again = await boss.post(f"/excuses/{rid}/decision", data={"decision": "reject", "comment": "x"})
    assert again.status == 409  # decided once
    steps = app[keys.EXCUSES].steps(rid)
    assert [(s.action.value, s.actor_id) for s in steps] == [
        ("filed", academy.staff_id),
        ("approved", director),
    ]
    assert steps[1].comment == "Документ проверен"

    # The class of 16 March is excused for that student, in the class register and the month
    # report; the one of 2 March is not; the excused class does not count against attendance.
    register = await staff.get(f"/classes/{b}/attendance.csv")
    by_name = {r[0]: r for r in rows_of(await register.read()) if r}
    assert by_name[accounts.get(s1).full_name][1] == "excused"
    assert by_name[accounts.get(academy.student_ids[2]).full_name][1] == "absent"
    report = await staff.get(f"/reports/groups/{academy.group_id}.csv?month=2026-03")
    rows = rows_of(await report.read())
    header = next(r for r in rows if r and r[0] == "Student")
    row = dict(
        zip(header, next(r for r in rows if r and r[0] == accounts.get(s1).full_name), strict=False)
    )
    assert (row[header[1]], row[header[2]]) == ("present", "excused")
    assert row["Attended, %"] == "100" and row["excused"] == "1"

    # The student sees their own request and its outcome.
    mine = english(sign_in(s1), served)
    own = await mine.get(f"/excuses/{rid}")
    assert own.status == 200 and "Approved" in await own.text()
    assert 'value="approve"' not in await own.text()


async def test_staff_plan_a_make_up_class_for_the_learner_only_and_clashes_are_named(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts, tt, store = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.EXCUSES]
    s1, s2 = academy.student_ids[:2]
    staff_user = accounts.get(academy.staff_id)
    director = accounts.by_login("director")[0]
    r = store.file(
        learner_id=s1, group_id=academy.group_id, reason=ExcuseReason.SERVICE_DUTY,
        first_day=date(2026, 3, 1), last_day=date(2026, 3, 5), document="Приказ № 5-к",
        details="", by_id=staff_user.id, by_name=staff_user.full_name, at=0.0,
    )  # fmt: skip
    staff = english(sign_in(academy.staff_id), served)
    day = working_day(tt.academy_calendar(), (datetime.now(UTC) + timedelta(days=2)).date())
    makeup = {"title": "Отработка: криминалистика", "kind": "consultation",
              "teacher_id": str(academy.teacher_id), "day": day.isoformat(),
              "start": "10:30", "end": "11:00"}  # fmt: skip
    pending = await staff.post(f"/excuses/{r.id}/makeup", data=makeup)
    assert pending.status == 409 and "approved request" in await pending.text()
    store.decide(r.id, True, director.id, director.full_name, "", 1.0)

    # The teacher already teaches the group at 10:00-11:20 (Almaty) that day.
    busy = datetime(day.year, day.month, day.day, 5, 0, tzinfo=UTC)
    plan(tt, academy.teacher_id, (academy.group_id,), busy, title="Судебная экспертиза")
    clash = await staff.post(f"/excuses/{r.id}/makeup", data=makeup)
    text = await clash.text()
    assert clash.status == 409 and "The teacher already has a class" in text
    assert "Судебная экспертиза" in text and "10:00" in text
    tt.add_teacher(academy.group_id, academy.other_teacher_id)
    other = makeup | {"teacher_id": str(academy.other_teacher_id)}
    clash = await staff.post(f"/excuses/{r.id}/makeup", data=other)
    assert clash.status == 409 and "The student already has a class" in await clash.text()
    outsider_teacher = makeup | {"teacher_id": str(academy.outsider_id)}
    assert (await staff.post(f"/excuses/{r.id}/makeup", data=outsider_teacher)).status == 400
    assert store.makeup_class_ids(r.id) == []

    done = await staff.post(
        f"/excuses/{r.id}/makeup", data=makeup | {"start": "12:00", "end": "12:45"},
        allow_redirects=False,
    )  # fmt: skip
    assert done.status == 303, await done.text()
    (cid,) = store.makeup_class_ids(r.id)
    c = tt.get_class(cid)
    assert c.learner_ids == (s1,) and c.teacher_id == academy.teacher_id
    assert c.starts_at == datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC)  # 12:00 UTC+5
    assert store.steps(r.id)[-1].class_id == cid

    # Only that learner has it among their classes and may join it.
    learner, classmate = sign_in(s1), sign_in(s2)
    assert f'href="/classes/{cid}"' in await (await learner.get("/")).text()
    assert f'href="/classes/{cid}"' not in await (await classmate.get("/")).text()
    assert (await learner.post(f"/classes/{cid}/join-token")).status == 200
    assert (await classmate.post(f"/classes/{cid}/join-token")).status == 403
    assert (await classmate.get(f"/classes/{cid}")).status == 403
