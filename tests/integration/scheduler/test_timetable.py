"""The timetable: weekly rules across Almaty's change of offset, series planned all or nothing,
staff planning, moving and cancelling through the pages and JSON, conflicts named, week and
month views, who sees which timetable, and the minimum size of additional-education groups."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from aiohttp.test_utils import TestServer
from icalendar import Calendar

from access.models import Role
from access.sqlite_store import SqliteAccounts
from scheduler.errors import ClassConflict, GroupNotReady, InvalidTransition
from scheduler.models import (
    ClassFormat,
    ClassKind,
    ClassStatus,
    ProgrammeKind,
    TimetableAction,
    zone,
)
from scheduler.recurrence import local_span, weekly
from scheduler.sqlite_store import Actor, ClassSpec, SqliteTimetable
from tests.conftest import Academy, Clock, SignIn, on_days
from tests.integration.attendance.test_reports import english
from web.core import keys

ALMATY = "Asia/Almaty"


def test_a_weekly_rule_keeps_the_wall_clock_across_almatys_change_of_offset() -> None:
    # Almaty was UTC+6 until 2024-03-01 and UTC+5 since: 10:00 is 04:00 UTC, then 05:00 UTC.
    got = weekly(
        date(2024, 2, 19), date(2024, 3, 13), [0, 2], time(10, 0), time(11, 20), ALMATY,
        except_days=[date(2024, 3, 6)],
    )  # fmt: skip
    starts = [o.starts_at for o in got]
    assert starts == [
        datetime(2024, 2, 19, 4, 0, tzinfo=UTC),
        datetime(2024, 2, 21, 4, 0, tzinfo=UTC),
        datetime(2024, 2, 26, 4, 0, tzinfo=UTC),
        datetime(2024, 2, 28, 4, 0, tzinfo=UTC),
        datetime(2024, 3, 4, 5, 0, tzinfo=UTC),
        datetime(2024, 3, 11, 5, 0, tzinfo=UTC),
        datetime(2024, 3, 13, 5, 0, tzinfo=UTC),
    ]
    assert all(o.ends_at - o.starts_at == timedelta(minutes=80) for o in got)


@pytest.mark.parametrize(
    ("first", "until", "days", "message"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), [0], "ends before"),
        (date(2026, 3, 2), date(2026, 4, 1), [], "days of the week"),
        (date(2026, 3, 2), date(2026, 4, 1), [7], "days of the week"),
        (date(2026, 1, 1), date(2029, 1, 1), [0, 1, 2, 3, 4], "at most 400"),
    ],
)
def test_a_rule_without_sense_is_refused(
    first: date, until: date, days: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        weekly(first, until, days, time(10), time(11), ALMATY)


def test_a_class_ends_after_it_starts_and_within_twelve_hours() -> None:
    with pytest.raises(ValueError, match="end after"):
        local_span(date(2026, 3, 2), time(11), time(10), ALMATY)
    with pytest.raises(ValueError, match="12 hours"):
        local_span(date(2026, 3, 2), time(7), time(19, 30), ALMATY)


STAFF = Actor(1, "Жанна Серикбаева")


def spec(
    a: Academy, start: datetime, teacher: int | None = None, group: int | None = None
) -> ClassSpec:
    return ClassSpec(
        "Криминология", ClassKind.LECTURE, ClassFormat.LIVE_ONLINE, teacher or a.teacher_id,
        start, start + timedelta(minutes=80), (group or a.group_id,),
    )  # fmt: skip


def test_a_series_is_planned_whole_or_not_at_all(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    monday = datetime(2030, 9, 2, 5, 0, tzinfo=UTC)
    blocker = tt.add_class(
        title="Судебная медицина", kind=ClassKind.SEMINAR, format=ClassFormat.IN_PERSON,
        teacher_id=a.teacher_id, starts_at=monday + timedelta(days=14, minutes=30),
        ends_at=monday + timedelta(days=14, minutes=90), group_ids=(a.group_id,),
    )  # fmt: skip
    before = len(tt.classes_of_group(a.group_id))
    with pytest.raises(ClassConflict) as refused:
        tt.add_classes([spec(a, monday + timedelta(weeks=w)) for w in range(4)], by=STAFF)
    assert refused.value.conflicting.id == blocker.id
    assert len(tt.classes_of_group(a.group_id)) == before  # not the first two either
    # Two classes of the same series at once are refused too.
    with pytest.raises(ClassConflict):
        tt.add_classes([spec(a, monday), spec(a, monday + timedelta(minutes=40))], by=STAFF)
    made = tt.add_classes([spec(a, monday + timedelta(weeks=w)) for w in (0, 1, 3)], by=STAFF)
    assert len({c.series_id for c in made}) == 1 and made[0].series_id == made[0].id
    changes = tt.changes(class_id=made[1].id)
    assert [(ch.action, ch.by_name) for ch in changes] == [
        (TimetableAction.PLANNED, "Жанна Серикбаева")
    ]


def test_moving_keeps_the_checks_and_the_history(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    monday = datetime(2030, 9, 2, 5, 0, tzinfo=UTC)
    first, second = tt.add_classes([spec(a, monday), spec(a, monday + timedelta(hours=2))])
    with pytest.raises(ClassConflict) as refused:
        tt.move_class(first.id, monday + timedelta(hours=2, minutes=10),
                      monday + timedelta(hours=3), by=STAFF, reason="")  # fmt: skip
    assert refused.value.conflicting.id == second.id
    moved = tt.move_class(
        first.id, monday + timedelta(minutes=20), monday + timedelta(minutes=100), by=STAFF,
        reason="аудитория занята",
    )  # fmt: skip
    assert moved.starts_at == monday + timedelta(minutes=20)  # overlapping its own old time is fine
    tt.cancel_class(second.id, by=STAFF, reason="болезнь преподавателя")
    assert tt.get_class(second.id).status is ClassStatus.CANCELLED
    assert tt.changes(class_id=second.id)[0].action is TimetableAction.CANCELLED
    with pytest.raises(Exception, match="only planned"):
        tt.move_class(second.id, monday, monday + timedelta(hours=1), by=STAFF, reason="")


def test_an_additional_education_group_needs_twenty_to_be_activated(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, accounts = timetable
    institute = tt.institute_of_group(a.group_id)
    course = tt.add_programme(
        "Курсы повышения квалификации", ProgrammeKind.ADDITIONAL, institute.id
    )
    dept = tt.group(a.group_id).department_id
    group = tt.add_group("ПК-26-1", dept, "kk", ALMATY, programme_id=course.id)
    assert not group.active and tt.flags(group) == ["below_minimum"]
    people = [
        accounts.create_user(login=f"pk{i:02d}", full_name=f"Тыңдаушы {i}", role=Role.STUDENT).id
        for i in range(20)
    ]
    tt.add_members(group.id, people[:19])
    with pytest.raises(GroupNotReady):
        tt.set_active(group.id, True)
    tt.add_members(group.id, people[19:])
    assert tt.flags(tt.group(group.id)) == []
    assert tt.set_active(group.id, True).active


# -- through the pages and JSON -------------------------------------------------------------------
async def test_staff_plan_a_weekly_class_see_it_in_week_and_month_and_conflicts_are_named(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    staff = english(sign_in(academy.staff_id), served)
    form = {
        "title": "Уголовное право", "discipline": "Уголовное право", "kind": "lecture",
        "format": "live_online", "group_id": str(academy.group_id),
        "teacher_id": str(academy.teacher_id), "day": "2030-09-02", "start": "10:00",
        "end": "11:20", "repeat": "weekly", "until": "2030-09-30", "except": "2030-09-16",
    }  # fmt: skip
    page = await staff.get(f"/timetable/new?group={academy.group_id}")
    assert page.status == 200
    made = await staff.post(
        "/timetable/classes",
        data=[*form.items(), ("weekday", "0"), ("weekday", "2")],
        allow_redirects=False,
    )
    assert made.status == 303, await made.text()
    assert made.headers["Location"].endswith("view=week&date=2030-09-02")
    planned = tt.classes_of_group(
        academy.group_id, datetime(2030, 9, 1, tzinfo=UTC), datetime(2030, 10, 1, tzinfo=UTC)
    )
    # Mondays and Wednesdays of September 2030 but the 16th: 2, 4, 9, 11, 18, 23, 25, 30.
    assert [c.starts_at.day for c in planned] == [2, 4, 9, 11, 18, 23, 25, 30]
    assert all(c.starts_at.hour == 5 for c in planned)  # 10:00 in Almaty (UTC+5)

    week = await staff.get(f"/timetable/groups/{academy.group_id}?view=week&date=2030-09-04")
    html = await week.text()
    assert week.status == 200 and html.count('class="slot ') == 2 and "10:00" in html
    month = await staff.get(f"/timetable/groups/{academy.group_id}?view=month&month=2030-09")
    assert (await month.text()).count('class="slot ') == 8

    # The same teacher on Wednesday 4th at 10:30 for the other group: refused, named, nothing added.
    other_group = tt.groups_of_member(academy.outsider_id)[0].id
    tt.add_teacher(other_group, academy.teacher_id)
    clash = form | {"group_id": str(other_group), "day": "2030-09-04", "start": "10:30",
                    "end": "11:00", "repeat": ""}  # fmt: skip
    refused = await staff.post("/timetable/classes", data=clash)
    text = await refused.text()
    assert refused.status == 409 and "The teacher already has a class" in text
    assert "04.09.2030 10:00" in text and "Уголовное право" in text
    assert tt.classes_of_group(other_group, datetime(2030, 9, 1, tzinfo=UTC)) == []

    # Move one with a reason, cancel another: both in the class's history, shown as such.
    first, second = planned[0], planned[1]
    moved = await staff.post(
        f"/timetable/classes/{first.id}/move",
        data={"day": "2030-09-03", "start": "15:00", "end": "16:20", "reason": "праздник"},
    )
    assert moved.status == 200
    assert tt.get_class(first.id).starts_at == datetime(2030, 9, 3, 10, 0, tzinfo=UTC)
    no_reason = await staff.post(f"/timetable/classes/{second.id}/cancel", data={"reason": ""})
    assert no_reason.status == 400
    cancelled = await staff.post(
        f"/timetable/classes/{second.id}/cancel", data={"reason": "карантин"}
    )
    card = await cancelled.text()
    assert "Cancelled" in card and "карантин" in card
    again = await staff.post(
        f"/timetable/classes/{second.id}/move",
        data={"day": "2030-09-05", "start": "10:00", "end": "11:00"},
    )
    assert again.status == 409 and "Only a planned class" in await again.text()
    card = await (await staff.get(f"/timetable/classes/{first.id}")).text()
    assert "Moved" in card and "праздник" in card

    bad = await staff.get(f"/timetable/groups/{academy.group_id}?view=week&date=someday")
    assert bad.status == 400


async def test_the_json_timetable_plans_lists_and_refuses_with_the_conflict(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    body = {
        "title": "Криминалистика", "kind": "seminar", "format": "in_person",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id, "day": "2030-10-07",
        "start": "09:00", "end": "10:20", "repeat": "weekly", "weekdays": [0],
        "until": "2030-10-21",
    }  # fmt: skip
    created = await staff.post("/api/v1/classes", json=body)
    assert created.status == 201, await created.text()
    classes = (await created.json())["classes"]
    assert [c["local_start"] for c in classes] == [
        "2030-10-07T09:00:00+05:00", "2030-10-14T09:00:00+05:00", "2030-10-21T09:00:00+05:00",
    ]  # fmt: skip
    single = {"repeat": "", "start": "10:00", "end": "11:00", "day": "2030-10-14"}
    clash = await staff.post("/api/v1/classes", json=body | single)
    err = (await clash.json())["error"]
    assert clash.status == 409 and err["code"] == "class_conflict"
    assert err["conflicting_class_id"] == classes[1]["id"] and err["who"] == "teacher"
    listed = await staff.get(
        f"/api/v1/groups/{academy.group_id}/timetable?from=2030-10-01&to=2030-10-31"
    )
    assert [c["id"] for c in (await listed.json())["classes"]] == [c["id"] for c in classes]
    mine = await sign_in(academy.teacher_id).get(
        f"/api/v1/teachers/{academy.teacher_id}/timetable?from=2030-10-01&to=2030-10-31"
    )
    assert len((await mine.json())["classes"]) == 3
    for bad_body, status in ((b"not json", 400), (b"[1, 2]", 400)):
        resp = await staff.post(
            "/api/v1/classes", data=bad_body, headers={"Content-Type": "application/json"}
        )
        assert resp.status == status and "error" in await resp.json()
    wrong = await staff.post(
        "/api/v1/classes", json=body | {"teacher_id": academy.other_teacher_id}
    )
    assert wrong.status == 400 and (await wrong.json())["error"]["code"] == "bad_plan"
    huge = await staff.post("/api/v1/classes", json=body | {"group_id": 10**30})
    assert huge.status == 400
    far = await staff.get(
        f"/api/v1/groups/{academy.group_id}/timetable?from=2030-01-01&to=2031-01-01"
    )
    assert far.status == 400
    moved = await staff.post(
        f"/api/v1/classes/{classes[0]['id']}/move",
        json={"day": "2030-10-08", "start": "09:00", "end": "10:20"},
    )
    assert moved.status == 200 and (await moved.json())["local_start"].startswith("2030-10-08T09")
    # Only staff edit; a student or teacher cannot plan.
    for who in (academy.teacher_id, academy.student_ids[0]):
        assert (await sign_in(who).post("/api/v1/classes", json=body)).status == 403


@on_days
async def test_who_sees_which_timetable(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    other_group = tt.groups_of_member(academy.outsider_id)[0].id
    student = sign_in(academy.student_ids[0])
    own = await student.get("/timetable", allow_redirects=False)
    assert own.headers["Location"] == f"/timetable/groups/{academy.group_id}"
    assert (await student.get(f"/timetable/groups/{academy.group_id}")).status == 200
    assert (await student.get(f"/timetable/groups/{other_group}")).status == 403
    assert (await student.get(f"/timetable/teachers/{academy.teacher_id}")).status == 403
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.get(f"/timetable/teachers/{academy.teacher_id}")).status == 200
    assert (await teacher.get(f"/timetable/teachers/{academy.other_teacher_id}")).status == 403
    assert (await teacher.get(f"/timetable/groups/{other_group}")).status == 403
    staff = sign_in(academy.staff_id)
    index = await staff.get("/timetable")
    assert index.status == 200 and "ПД-24-2" in await index.text()
    assert (await staff.post("/timetable/classes", data={"title": ""})).status == 400
    assert (await teacher.post("/timetable/classes", data={"title": "x"})).status == 403


@on_days
async def test_the_calendar_feed_parses_back_with_the_same_classes_moves_and_cancellations(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt = served.app[keys.TIMETABLE]
    staff = sign_in(academy.staff_id)
    soon = clock.today() + timedelta(days=30)
    monday = soon - timedelta(days=soon.weekday())  # feeds reach about a year ahead
    body = {
        "title": "Криминалистика: қылмыс", "kind": "seminar", "format": "live_online",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id,
        "day": monday.isoformat(), "start": "09:00", "end": "10:20", "repeat": "weekly",
        "weekdays": [0, 3], "until": (monday + timedelta(days=10)).isoformat(),
        "on_day_off": True,  # the weeks may hold a public holiday (3 May 2027 does)
    }  # fmt: skip
    made = (await (await staff.post("/api/v1/classes", json=body)).json())["classes"]
    assert len(made) == 4
    moved, cancelled = made[1]["id"], made[2]["id"]
    wednesday = datetime.combine(monday + timedelta(days=2), time(9, 0), zone(clock.zone))
    tt.move_class(moved, wednesday, wednesday + timedelta(minutes=80), by=STAFF, reason="")
    tt.cancel_class(cancelled, by=STAFF, reason="карантин")

    student = sign_in(academy.student_ids[0])
    page = await (await student.get(f"/timetable/groups/{academy.group_id}")).text()
    found = re.search(r'href="(/ical/groups/\d+/[0-9a-f]{32}\.ics)"', page)
    assert found, "the group's page links its feed"
    feed = await staff.get(found.group(1))
    assert feed.status == 200 and feed.content_type == "text/calendar"
    cal = Calendar.from_ical(await feed.read())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    ours = {f"class-{c['id']}@sabaq" for c in made}
    assert ours <= set(events)
    for c in made:
        e = events[f"class-{c['id']}@sabaq"]
        assert str(e["summary"]) == "Криминалистика: қылмыс"
        if c["id"] != moved:
            assert e.decoded("dtstart") == datetime.fromisoformat(c["starts_at"])
        assert e.decoded("dtend") - e.decoded("dtstart") == timedelta(minutes=80)
    assert events[f"class-{moved}@sabaq"].decoded("dtstart") == wednesday
    assert int(events[f"class-{moved}@sabaq"]["sequence"]) >= 1  # clients take the update
    assert str(events[f"class-{cancelled}@sabaq"]["status"]) == "CANCELLED"
    assert str(events[f"class-{made[0]['id']}@sabaq"]["status"]) == "CONFIRMED"
    assert f"/classes/{made[0]['id']}" in str(events[f"class-{made[0]['id']}@sabaq"]["url"])

    forged = found.group(1)[:-8] + ("0" if found.group(1)[-8] != "0" else "1") + found.group(1)[-7:]
    assert (await staff.get(forged)).status == 404
    other = tt.groups_of_member(academy.outsider_id)[0].id
    page = await (await student.get(f"/timetable/groups/{academy.group_id}")).text()
    assert f"/ical/groups/{other}/" not in page
    teacher_page = await (await sign_in(academy.teacher_id).get(
        f"/timetable/teachers/{academy.teacher_id}"
    )).text()  # fmt: skip
    teacher_feed = re.search(r'href="(/ical/teachers/\d+/[0-9a-f]{32}\.ics)"', teacher_page)
    assert teacher_feed
    teacher_cal = Calendar.from_ical(await (await staff.get(teacher_feed.group(1))).read())
    assert ours <= {str(e["uid"]) for e in teacher_cal.walk("VEVENT")}


def test_an_emergency_switch_moves_in_person_classes_online_and_can_be_undone(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    other = tt.groups_of_member(a.outsider_id)[0].id
    monday = datetime(2030, 9, 2, 5, 0, tzinfo=UTC)

    def plan(group: int, teacher: int, start: datetime, fmt: ClassFormat) -> int:
        return tt.add_class(
            title="Сабақ", kind=ClassKind.SEMINAR, format=fmt, teacher_id=teacher,
            starts_at=start, ends_at=start + timedelta(minutes=80), group_ids=(group,),
        ).id  # fmt: skip

    inside = plan(a.group_id, a.teacher_id, monday, ClassFormat.IN_PERSON)
    later = plan(a.group_id, a.teacher_id, monday + timedelta(days=1), ClassFormat.IN_PERSON)
    online = plan(a.group_id, a.teacher_id, monday + timedelta(days=2), ClassFormat.LIVE_ONLINE)
    cancelled = plan(a.group_id, a.teacher_id, monday + timedelta(days=3), ClassFormat.IN_PERSON)
    tt.cancel_class(cancelled, by=STAFF, reason="")
    outside = plan(a.group_id, a.teacher_id, monday + timedelta(days=9), ClassFormat.IN_PERSON)
    elsewhere = plan(other, a.other_teacher_id, monday, ClassFormat.IN_PERSON)

    sw = tt.switch_online(date(2030, 9, 2), date(2030, 9, 6), [a.group_id], by=STAFF,
                          reason="карантин")  # fmt: skip
    assert set(sw.class_ids) == {inside, later}
    assert tt.get_class(inside).format is ClassFormat.LIVE_ONLINE
    for untouched in (outside, elsewhere, cancelled):
        assert tt.get_class(untouched).format is ClassFormat.IN_PERSON
    assert tt.get_class(online).format is ClassFormat.LIVE_ONLINE
    assert tt.changes(class_id=inside)[0].action is TimetableAction.SWITCHED_ONLINE
    assert [s.id for s in tt.switches_for([a.group_id], date(2030, 9, 1))] == [sw.id]
    assert tt.switches_for([other], date(2030, 9, 1)) == []

    # The first class was held online meanwhile: undoing leaves it as it happened.
    tt.set_status(inside, ClassStatus.LIVE)
    tt.set_status(inside, ClassStatus.HELD)
    undone = tt.undo_switch(sw.id, by=STAFF)
    assert not undone.active and undone.undone_by_name == STAFF.name
    assert tt.get_class(inside).format is ClassFormat.LIVE_ONLINE
    assert tt.get_class(later).format is ClassFormat.IN_PERSON
    assert tt.changes(class_id=later)[0].action is TimetableAction.SWITCH_UNDONE
    with pytest.raises(InvalidTransition):
        tt.undo_switch(sw.id, by=STAFF)
    everyone = tt.switch_online(date(2030, 9, 2), date(2030, 9, 2), [], by=STAFF, reason="су")
    assert set(everyone.class_ids) == {elsewhere}  # every group; `inside` was held already


@on_days
async def test_staff_switch_classes_online_and_teachers_and_students_are_told(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt = served.app[keys.TIMETABLE]
    start = clock.now() + timedelta(days=3)
    c = tt.add_class(
        title="Тергеу тактикасы", kind=ClassKind.PRACTICAL, format=ClassFormat.IN_PERSON,
        teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(minutes=80),
        group_ids=(academy.group_id,), on_day_off=True,  # three days on may be a holiday
    )  # fmt: skip
    staff = english(sign_in(academy.staff_id), served)
    day = start.astimezone(zone(clock.zone)).date()
    bad = await staff.post(
        "/timetable/emergency", data={"first_day": day.isoformat(), "last_day": "x", "reason": "q"}
    )
    assert bad.status == 400
    no_reason = await staff.post(
        "/timetable/emergency",
        data={"first_day": day.isoformat(), "last_day": day.isoformat(), "all": "1"},
    )
    assert no_reason.status == 400 and tt.switches() == []
    done = await staff.post(
        "/timetable/emergency",
        data={"first_day": day.isoformat(), "last_day": day.isoformat(),
              "group_id": str(academy.group_id), "reason": "карантин по гриппу"},
    )  # fmt: skip
    assert done.status == 200 and "карантин по гриппу" in await done.text()
    assert tt.get_class(c.id).format is ClassFormat.LIVE_ONLINE
    for who in (academy.student_ids[0], academy.teacher_id):
        home = await english(sign_in(who), served).get("/")
        text = await home.text()
        assert "in-person classes are held online: карантин по гриппу" in text, who
    outsider = await english(sign_in(academy.outsider_id), served).get("/")
    assert "карантин" not in await outsider.text()
    assert (await sign_in(academy.teacher_id).post(
        "/timetable/emergency", data={"first_day": day.isoformat()}
    )).status == 403  # fmt: skip
    (sw,) = tt.switches()
    undo = await staff.post(f"/timetable/emergency/{sw.id}/undo")
    assert undo.status == 200 and tt.get_class(c.id).format is ClassFormat.IN_PERSON
    home = await english(sign_in(academy.student_ids[1]), served).get("/")
    assert "карантин" not in await home.text()
    assert (await staff.post(f"/timetable/emergency/{sw.id}/undo")).status == 409


def test_a_student_in_two_groups_is_not_put_in_two_classes_at_once(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    other = tt.groups_of_member(a.outsider_id)[0].id
    tt.add_members(other, [a.student_ids[0]])  # also in the other group
    monday = datetime(2030, 9, 2, 4, 0, tzinfo=UTC)
    first = tt.add_classes([spec(a, monday)])[0]
    with pytest.raises(ClassConflict) as refused:
        tt.add_classes([spec(a, monday + timedelta(minutes=30), a.other_teacher_id, other)])
    assert refused.value.who == "learner" and refused.value.conflicting.id == first.id
    tt.add_classes([spec(a, monday + timedelta(minutes=80), a.other_teacher_id, other)])


@on_days
def test_emergency_switches_leave_the_past_alone_and_undo_respects_another_switch(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts], clock: Clock
) -> None:
    tt, a, _ = timetable
    now = clock.now()
    past = tt.add_class(
        title="Өткен", kind=ClassKind.SEMINAR, format=ClassFormat.IN_PERSON,
        teacher_id=a.teacher_id, starts_at=now - timedelta(hours=5),
        ends_at=now - timedelta(hours=4), group_ids=(a.group_id,),
    )  # fmt: skip
    coming = tt.add_class(
        title="Алдағы", kind=ClassKind.SEMINAR, format=ClassFormat.IN_PERSON,
        teacher_id=a.teacher_id, starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1), group_ids=(a.group_id,),
        on_day_off=True,  # 2 January is a holiday
    )  # fmt: skip
    today = clock.today()
    week = tt.switch_online(today - timedelta(days=1), today + timedelta(days=6), [a.group_id],
                            by=STAFF, reason="су тасқыны")  # fmt: skip
    assert week.class_ids == (coming.id,)  # the class already over stays as it was held
    assert tt.get_class(past.id).format is ClassFormat.IN_PERSON
    month = tt.switch_online(today, today + timedelta(days=30), [], by=STAFF, reason="карантин")
    tt.undo_switch(week.id, by=STAFF)
    assert tt.get_class(coming.id).format is ClassFormat.LIVE_ONLINE  # the month's still holds
    tt.undo_switch(month.id, by=STAFF)
    assert tt.get_class(coming.id).format is ClassFormat.IN_PERSON


async def test_classmates_do_not_see_a_make_up_class_and_bad_input_is_refused(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    s1, s2 = academy.student_ids[:2]
    start = datetime(2030, 11, 5, 5, 0, tzinfo=UTC)
    makeup = tt.add_class(
        title="Отработка", kind=ClassKind.CONSULTATION, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
        group_ids=(academy.group_id,), learner_ids=(s2,),
    )  # fmt: skip
    url = f"/api/v1/groups/{academy.group_id}/timetable?from=2030-11-01&to=2030-11-30"
    seen = await (await sign_in(s1).get(url)).json()
    assert seen["classes"] == []
    own = await (await sign_in(s2).get(url)).json()
    assert [c["id"] for c in own["classes"]] == [makeup.id] and own["classes"][0][
        "learner_ids"
    ] == []
    staff_view = await (await sign_in(academy.staff_id).get(url)).json()
    assert staff_view["classes"][0]["learner_ids"] == [s2]

    staff = sign_in(academy.staff_id)
    body = {
        "title": "Сабақ", "kind": "lecture", "format": "live_online",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id, "day": "2030-11-06",
        "start": "09:00", "end": "10:00",
    }  # fmt: skip
    for bad in (
        {"group_id": -(10**30)}, {"group_id": "1e9"}, {"title": [1]}, {"day": 5},
        {"weekdays": "0"}, {"teacher_id": True}, {"day": "2020-01-06"},
    ):  # fmt: skip
        resp = await staff.post("/api/v1/classes", json=body | bad)
        assert resp.status == 400, (bad, resp.status)
        assert "error" in await resp.json()
    for path in (
        f"/timetable/groups/{academy.group_id}?view=month&month=0001-01",
        f"/timetable/groups/{academy.group_id}?view=month&month=9999-12",
        f"/api/v1/groups/{academy.group_id}/timetable?from=0001-01-01&to=0001-01-02",
        f"/api/v1/teachers/{academy.teacher_id}/timetable?from=9999-12-30&to=9999-12-31",
    ):
        assert (await staff.get(path)).status == 400, path
    form = {k: str(v) for k, v in body.items()} | {"group_id": "-" + "9" * 25}
    assert (await staff.post("/timetable/classes", data=form)).status == 400
