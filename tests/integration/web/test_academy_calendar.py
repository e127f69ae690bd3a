"""The academy calendar through the pages, the feed and the API; a class on a non-working day
asks for confirmation; a class outside the study period or for an inactive group is refused
with the reason; the guarantee's page shows the whole study period."""

from __future__ import annotations

import re
from datetime import date

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from icalendar import Calendar

from access.models import Role
from admission.models import ExcuseReason
from scheduler.workdays import DayKind
from tests.conftest import Academy, SignIn
from tests.integration.attendance.test_reports import english
from web.core import keys
from web.pages.timetable import actor

NAURYZ = "2030-03-22"  # a Friday


def _period_group(served: TestServer, academy: Academy, *, active: bool = True) -> int:
    """A group studying from 1 September 2029 to 30 June 2030, taught by the seeded teacher."""
    tt = served.app[keys.TIMETABLE]
    dept = tt.group(academy.group_id).department_id
    g = tt.add_group(
        "М-29-1" if active else "М-29-2", dept, "ru", "Asia/Almaty",
        starts_on=date(2029, 9, 1), ends_on=date(2030, 6, 30), active=active,
    )  # fmt: skip
    tt.add_teacher(g.id, academy.teacher_id)
    return g.id


@pytest.mark.parametrize("clock", ["31-december"], indirect=True)
async def test_staff_keep_the_calendar_everyone_reads_it_and_its_feed(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = english(sign_in(academy.staff_id), served)
    student = english(sign_in(academy.student_ids[0]), served)
    teacher = sign_in(academy.teacher_id)
    page = await student.get("/timetable/calendar?year=2027")
    html = await page.text()
    assert page.status == 200
    assert re.search(r'data-day="2027-03-22" data-off="yes">.*?Nowruz Holiday', html, re.S)
    moved = r'data-day="2027-01-04" data-off="yes">.*?New Year.{1,5}s Day \(moved day off\)'
    assert re.search(moved, html, re.S)
    assert "Set the day" not in html  # a student reads it only
    for client in (student, teacher):
        refused = await client.post(
            "/timetable/calendar/days",
            data={"day": "2027-09-01", "kind": "day_off", "name": "День академии"},
        )
        assert refused.status == 403
    for day, kind, name in (
        ("2027-09-01", "day_off", "День академии"),
        ("2027-01-09", "working_day", "Рабочая суббота"),
        ("2027-03-08", "working_day", "Сессия"),
    ):
        done = await staff.post(
            "/timetable/calendar/days",
            data={"day": day, "kind": kind, "name": name},
            allow_redirects=False,
        )
        assert done.status in (302, 303), await done.text()
    bad = await staff.post(
        "/timetable/calendar/days", data={"day": "2027-09-02", "kind": "day_off"}
    )
    assert bad.status == 400 and "a name of 1 to 200 characters" in await bad.text()
    cal = served.app[keys.TIMETABLE].academy_calendar()
    assert cal.day_off(date(2027, 9, 1)) == "День академии"
    assert cal.is_working(date(2027, 1, 9), range(5)) and cal.day_off(date(2027, 3, 8)) is None
    html = await (await staff.get("/timetable/calendar?year=2027")).text()
    assert "Public holiday: International Women" in html  # the holiday staff made worked
    # The feed: at the URL the page shows, without a session; the days off as all-day events.
    feed = re.search(r'href="(/ical/calendar/0/[0-9a-f]{32}\.ics)"', html)
    assert feed is not None
    async with ClientSession(base_url=served.make_url("/")) as anyone:
        got = await anyone.get(feed.group(1), headers={"Accept-Language": "en"})
        assert got.status == 200 and got.content_type == "text/calendar"
        events = {
            str(e.get("dtstart").dt): str(e.get("summary"))
            for e in Calendar.from_ical(await got.read()).walk("VEVENT")
        }
        assert events["2027-03-22"] == "Nowruz Holiday"
        assert events["2027-09-01"] == "День академии"
        assert "2027-01-09" not in events and "2027-03-08" not in events
        assert (await anyone.get("/ical/calendar/0/" + "0" * 32 + ".ics")).status == 404
    # Staff forget a day: it is as the law has it again.
    forgot = await staff.post("/timetable/calendar/days/2027-03-08/remove", allow_redirects=False)
    assert forgot.status in (302, 303)
    assert served.app[keys.TIMETABLE].academy_calendar().day_off(date(2027, 3, 8)) is not None
    assert (await staff.post("/timetable/calendar/days/2027-03-08/remove")).status == 404
    assert (await student.post("/timetable/calendar/days/2027-09-01/remove")).status == 403
    for year in ("1999", "2101", "-99999999999999999999", "9" * 30, "x"):
        assert (await student.get(f"/timetable/calendar?year={year}")).status == 400
        assert (await student.get(f"/api/v1/calendar?year={year}")).status == 400


async def test_a_class_on_a_day_off_is_planned_only_when_confirmed_on_the_page(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = english(sign_in(academy.staff_id), served)
    form = {
        "title": "Лекция", "kind": "lecture", "format": "live_online",
        "group_id": str(academy.group_id), "teacher_id": str(academy.teacher_id),
        "day": NAURYZ, "start": "10:00", "end": "11:20",
    }  # fmt: skip
    asked = await staff.post("/timetable/classes", data=form)
    html = await asked.text()
    assert asked.status == 409
    assert "22.03.2030 is a non-working day (Nowruz Holiday)" in html
    assert 'name="on_day_off"' in html and "Plan on 22.03.2030 anyway" in html
    assert served.app[keys.TIMETABLE].classes_of_group(academy.group_id)[-1].title != "Лекция"
    done = await staff.post("/timetable/classes", data=form | {"on_day_off": "1"},
                            allow_redirects=False)  # fmt: skip
    assert done.status in (302, 303)
    made = served.app[keys.TIMETABLE].classes_of_group(academy.group_id)[-1]
    assert made.title == "Лекция" and made.starts_at.date().isoformat() == NAURYZ
    # Moving a class onto a day staff set off asks the same, naming the academy's reason.
    tt = served.app[keys.TIMETABLE]
    staff_user = served.app[keys.ACCOUNTS].get(academy.staff_id)
    tt.set_day(date(2030, 4, 2), DayKind.DAY_OFF, "День академии", by=actor(staff_user))
    move = {"day": "2030-04-02", "start": "10:00", "end": "11:20", "reason": "перенос"}
    asked = await staff.post(f"/timetable/classes/{made.id}/move", data=move)
    html = await asked.text()
    assert asked.status == 409 and "(День академии)" in html and 'value="2030-04-02"' in html
    moved = await staff.post(f"/timetable/classes/{made.id}/move", data=move | {"on_day_off": "1"},
                             allow_redirects=False)  # fmt: skip
    assert moved.status in (302, 303)
    assert tt.get_class(made.id).starts_at.date() == date(2030, 4, 2)


async def test_the_api_asks_for_the_flag_and_refuses_outside_the_period_or_an_inactive_group(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    active, inactive = _period_group(served, academy), _period_group(served, academy, active=False)
    staff = english(sign_in(academy.staff_id), served)
    plan = {
        "title": "Лекция", "kind": "lecture", "format": "live_online",
        "group_id": active, "teacher_id": academy.teacher_id,
        "day": NAURYZ, "start": "10:00", "end": "11:20",
    }  # fmt: skip
    refused = await staff.post("/api/v1/classes", json=plan)
    body = await refused.json()
    assert refused.status == 409 and body["error"]["code"] == "non_working_day"
    assert body["error"]["day"] == NAURYZ and body["error"]["day_off"] == "Nowruz Holiday"
    assert "non-working day (Nowruz Holiday)" in body["error"]["message"]
    made = await staff.post("/api/v1/classes", json=plan | {"on_day_off": True})
    assert made.status == 201
    cid = (await made.json())["classes"][0]["id"]
    for day in ("2029-08-31", "2030-07-01"):
        outside = await staff.post("/api/v1/classes", json=plan | {"day": day})
        body = await outside.json()
        assert outside.status == 422 and body["error"]["code"] == "outside_study_period"
        assert (
            "outside the study period of group М-29-1 (01.09.2029 – 30.06.2030)"
            in (body["error"]["message"])
        )
    weekly = plan | {"day": "2030-06-17", "repeat": "weekly", "weekdays": [0],
                     "until": "2030-07-15"}  # fmt: skip
    assert (await staff.post("/api/v1/classes", json=weekly)).status == 422  # all or nothing
    closed = await staff.post("/api/v1/classes", json=plan | {"group_id": inactive,
                                                               "day": "2030-03-25"})  # fmt: skip
    body = await closed.json()
    assert closed.status == 409 and body["error"]["code"] == "group_inactive"
    assert "Group М-29-2 is not active" in body["error"]["message"]
    move = f"/api/v1/classes/{cid}/move"
    out = await staff.post(move, json={"day": "2030-07-02", "start": "10:00", "end": "11:00"})
    assert out.status == 422 and (await out.json())["error"]["code"] == "outside_study_period"
    off = await staff.post(move, json={"day": "2030-05-09", "start": "10:00", "end": "11:00"})
    body = await off.json()
    assert off.status == 409 and body["error"]["day_off"] == "Victory Day"
    ok = await staff.post(move, json={"day": "2030-05-09", "start": "10:00", "end": "11:00",
                                      "on_day_off": True})  # fmt: skip
    assert ok.status == 200
    assert (await staff.post("/api/v1/classes", json=plan | {"on_day_off": "yes"})).status == 400
    # The calendar through the API: the staff's, a student's read.
    student = sign_in(academy.student_ids[0])
    assert (await student.get("/api/v1/calendar?year=2030")).status == 200
    own = {"day": "2030-09-02", "kind": "day_off", "name": "День академии"}
    assert (await student.put("/api/v1/calendar/days", json=own)).status == 403
    assert (await sign_in(academy.teacher_id).put("/api/v1/calendar/days", json=own)).status == 403
    assert (await staff.put("/api/v1/calendar/days", json=own)).status == 200
    admin = served.app[keys.ACCOUNTS].create_user(
        login="admin", full_name="Әкімші", role=Role.ADMIN
    )
    gone = await sign_in(admin.id).delete("/api/v1/calendar/days?day=2030-09-02")
    assert gone.status == 200 and (await gone.json()) == {"day": "2030-09-02", "removed": True}


async def test_the_guarantee_page_shows_the_whole_study_period(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    _period_group(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    html = await (await staff.get("/timetable/guarantee")).text()
    months = re.findall(r'<th scope="col">(\d{4}-\d{2})</th>', html)
    assert "2029-09" in months and "2030-06" in months  # the whole period, beyond the horizon
    row = html[html.index("М-29-1") : html.index("</tr>", html.index("М-29-1"))]
    assert 'data-state="outside"' in row and "the study period starts on 01.09.2029" in row
    assert 'data-state="red"' not in row.split("2029")[0]  # months before it are not red


async def test_a_make_up_class_keeps_the_calendar_and_the_study_period(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts, tt, store = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.EXCUSES]
    group = _period_group(served, academy)
    learner = academy.student_ids[0]
    tt.add_members(group, [learner])
    staff_user = accounts.get(academy.staff_id)
    director = accounts.by_login("director")[0]
    r = store.file(
        learner_id=learner, group_id=group, reason=ExcuseReason.ILLNESS,
        first_day=date(2029, 10, 1), last_day=date(2029, 10, 5), document="Справка № 7",
        details="", by_id=staff_user.id, by_name=staff_user.full_name, at=0.0,
    )  # fmt: skip
    store.decide(r.id, True, director.id, director.full_name, "", 1.0)
    staff = english(sign_in(academy.staff_id), served)
    makeup = {"title": "Отработка", "kind": "consultation", "teacher_id": str(academy.teacher_id),
              "day": NAURYZ, "start": "10:00", "end": "10:45"}  # fmt: skip
    asked = await staff.post(f"/excuses/{r.id}/makeup", data=makeup)
    html = await asked.text()
    assert asked.status == 409 and "non-working day (Nowruz Holiday)" in html
    assert 'name="on_day_off"' in html
    outside = await staff.post(f"/excuses/{r.id}/makeup", data=makeup | {"day": "2030-07-02"})
    assert outside.status == 422 and "outside the study period" in await outside.text()
    assert store.makeup_class_ids(r.id) == []
    done = await staff.post(f"/excuses/{r.id}/makeup", data=makeup | {"on_day_off": "1"},
                            allow_redirects=False)  # fmt: skip
    assert done.status == 303
    (cid,) = store.makeup_class_ids(r.id)
    assert tt.get_class(cid).learner_ids == (learner,)
