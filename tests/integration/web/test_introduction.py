"""The introduction (clause 5), on a fixed day: a student's device check passed in every part
and their tour are recorded the first time each, only by the student themself; the home page
asks for it until both are in; the learner's history and its export say when; the group's
page shows its teachers and staff who has not taken it, marked when the first class is near."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from access.models import Role
from attendance.introduction import Step
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind
from tests.conftest import Academy, Client, Clock, SignIn
from web.core import keys
from web.core.http import CSRF_COOKIE

ALMATY = ZoneInfo(DEFAULT_TIMEZONE)
PASSED = {p: True for p in ("browser", "server", "path", "camera", "microphone", "speakers")}
PROMPT = 'class="notice introduction-due"'


@pytest.fixture
def clock() -> Clock:
    """Wednesday 8 September 2027, 09:00 in Almaty: the group's first class starts now."""
    return Clock(datetime(2027, 9, 8, 9, 0, tzinfo=ALMATY))


async def _take(client: Client, body: object) -> tuple[int, Any]:
    resp = await client.post("/practice/taken", json=body, headers={"Accept": "application/json"})
    return resp.status, await resp.json()


async def test_steps_count_once_and_the_home_page_asks_until_both_are_taken(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    sid = academy.student_ids[0]
    student = sign_in(sid)
    store = served.app[keys.INTRODUCTION]
    assert PROMPT in await (await student.get("/")).text()

    # A check with a part failed, an unknown step, a body that is not JSON: refused, nothing kept.
    status, body = await _take(student, {"step": "check", "results": {**PASSED, "camera": False}})
    assert (status, body["error"]["code"]) == (400, "check_not_passed")
    status, body = await _take(student, {"step": "check"})
    assert (status, body["error"]["code"]) == (400, "check_not_passed")
    status, body = await _take(student, {"step": "exam"})
    assert (status, body["error"]["code"]) == (400, "bad_step")
    bad = await student.post(
        "/practice/taken", data=b"not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status == 400
    assert store.of(sid).taken_at == {}

    # The check passed in every part: recorded; again: nothing changes, the first time stays.
    status, body = await _take(student, {"step": "check", "results": PASSED})
    assert (status, body) == (200, {"step": "check", "recorded": True, "done": False})
    first = store.of(sid).taken_at[Step.CHECK]
    status, body = await _take(student, {"step": "check", "results": PASSED})
    assert (status, body) == (200, {"step": "check", "recorded": False, "done": False})
    assert store.of(sid).taken_at == {Step.CHECK: first}
    assert PROMPT in await (await student.get("/")).text()  # the tour is still to take

    status, body = await _take(student, {"step": "tour"})
    assert (status, body) == (200, {"step": "tour", "recorded": True, "done": True})
    assert PROMPT not in await (await student.get("/")).text()
    # Another student of the group is still asked.
    assert PROMPT in await (await sign_in(academy.student_ids[1]).get("/")).text()

    # The history says when (in the group's zone), the page and its export alike.
    when = re.compile(r"2027-09-08 09:0\d")
    page = await (await student.get(f"/reports/learners/{sid}")).text()
    assert len(when.findall(page)) >= 2, page
    csv = await (await sign_in(academy.staff_id).get(f"/reports/learners/{sid}.csv")).text()
    assert any(len(when.findall(line)) == 2 for line in csv.splitlines()), csv
    fresh = await (
        await sign_in(academy.staff_id).get(f"/reports/learners/{academy.student_ids[1]}.csv")
    ).text()
    assert "не пройдено" in fresh  # in the group's language: neither step taken


async def test_only_the_signed_in_student_records_their_own_steps(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    store = served.app[keys.INTRODUCTION]
    # No session (with a CSRF cookie, so the check of the session is what answers).
    csrf = secrets.token_urlsafe(16)
    async with ClientSession() as anonymous:
        resp = await anonymous.post(
            served.make_url("/practice/taken"),
            json={"step": "tour"},
            headers={"X-CSRF-Token": csrf, "Cookie": f"{CSRF_COOKIE}={csrf}"},
        )
        assert resp.status == 401
    # A teacher or staff member: refused, nothing recorded.
    for uid in (academy.teacher_id, academy.staff_id):
        status, body = await _take(sign_in(uid), {"step": "tour"})
        assert (status, body["error"]["code"]) == (403, "forbidden")
        assert store.of(uid).taken_at == {}
    # Without the CSRF header: refused.
    student = sign_in(academy.student_ids[0])
    resp = await student.post(
        "/practice/taken", json={"step": "tour"}, headers={"X-CSRF-Token": "forged"}
    )
    assert resp.status == 403
    assert store.of(academy.student_ids[0]).taken_at == {}


async def test_the_group_page_lists_who_has_not_taken_it_to_its_teachers_and_staff(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    ga = academy.group_id
    staff, teacher = sign_in(academy.staff_id), sign_in(academy.teacher_id)
    page = await (await staff.get(f"/groups/{ga}")).text()
    assert 'data-urgent="yes"' in page  # the first class is now
    assert "Студент 01" in page and "Студент 20" in page
    assert "08.09.2027" in page or "2027" in page
    listed = await teacher.get(f"/groups/{ga}/introduction")
    assert listed.status == 200 and "Студент 01" in await listed.text()

    student = sign_in(academy.student_ids[0])
    await _take(student, {"step": "check", "results": PASSED})
    page = await (await staff.get(f"/groups/{ga}")).text()
    assert "Студент 01" in page  # the tour is still missing
    await _take(student, {"step": "tour"})
    for client, path in ((staff, f"/groups/{ga}"), (teacher, f"/groups/{ga}/introduction")):
        page = await (await client.get(path)).text()
        assert "Студент 01" not in page.split('id="introduction-title"')[1]
        assert "Студент 02" in page

    # A student (of this group or another) and the other group's teacher see no list.
    for uid in (academy.student_ids[1], academy.outsider_id, academy.other_teacher_id):
        resp = await sign_in(uid).get(f"/groups/{ga}/introduction")
        assert resp.status == 403
        assert "Студент 03" not in await resp.text()
    # The group's timetable links to the list for its teachers only.
    link = f'href="/groups/{ga}/introduction"'
    assert link in await (await teacher.get(f"/timetable/groups/{ga}")).text()
    assert link not in await (await student.get(f"/timetable/groups/{ga}")).text()


async def test_the_list_is_marked_only_when_the_first_class_is_within_a_week(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    dept = tt.group(academy.group_id).department_id
    later = tt.add_group("ПД-24-3", dept, "ru", DEFAULT_TIMEZONE)
    learner = accounts.create_user(login="later01", full_name="Поздний Студент", role=Role.STUDENT)
    tt.add_members(later.id, [learner.id])
    tt.add_teacher(later.id, academy.teacher_id)
    staff = sign_in(academy.staff_id)
    page = await (await staff.get(f"/groups/{later.id}")).text()
    assert 'data-urgent="no"' in page and "Поздний Студент" in page  # no class planned yet

    def plan(days: int) -> None:
        start = datetime.fromtimestamp(clock(), UTC) + timedelta(days=days)
        tt.add_class(
            title="Введение", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
            group_ids=(later.id,), on_day_off=True,
        )  # fmt: skip

    plan(30)
    assert 'data-urgent="no"' in await (await staff.get(f"/groups/{later.id}")).text()
    plan(6)  # the first class is now six days away
    assert 'data-urgent="yes"' in await (await staff.get(f"/groups/{later.id}")).text()
