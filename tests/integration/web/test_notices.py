"""The notices page, the header's badge and the unread count: a student told of a cancelled
class sees the badge and the notice in their language, opens it (marked read) or marks all
read; nobody opens another's notice; the director's and the head's home pages count the
decisions waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from admission.models import ExcuseReason
from scheduler.models import DEFAULT_TIMEZONE
from scheduler.planning import Actor
from tests.conftest import Academy, Client, Clock, SignIn
from web.core import keys
from web.core.settings import Settings

BADGE = re.compile(r"data-notices-unread>(\d+)<")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 3, 10, 9, 0, tzinfo=ZoneInfo(DEFAULT_TIMEZONE)))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The collector runs in the background, often (the tests also collect themselves)."""
    return dataclasses.replace(settings, notice_interval_seconds=0.05)


async def unread_soon(client: Client, expected: int) -> None:
    """Waits (at most 5 s) until the background collector has told the client's person."""
    for _ in range(100):
        if (await (await client.get("/api/v1/notices/unread")).json())["unread"] == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {expected} unread notices after 5 s")


def badge(html: str) -> int:
    m = BADGE.search(html)
    return int(m.group(1)) if m else 0


def cancel(served: TestServer, academy: Academy, reason: str = "болезнь") -> None:
    served.app[keys.TIMETABLE].cancel_class(
        academy.class_id, by=Actor(academy.staff_id, "Жанна Серикбаева"), reason=reason
    )
    served.app[keys.NOTICES].collect()


async def test_the_badge_counts_unread_notices_and_mark_all_read_clears_it(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = sign_in(academy.student_ids[0])
    r = await student.get("/")
    assert r.status == 200 and badge(await r.text()) == 0
    cancel(served, academy)
    html = await (await student.get("/")).text()
    assert badge(html) == 1
    r = await student.get("/api/v1/notices/unread")
    assert r.status == 200 and await r.json() == {"unread": 1}
    page = await (await student.get("/notices")).text()
    # The group's language is Russian; the class's time in the group's zone.
    assert "Занятие отменено: Уголовное право" in page
    assert "10.03.2027 09:00–10:30 (время Алматы, UTC+5)" in page
    assert "Причина: болезнь" in page
    assert 'class="notice unread"' in page
    r = await student.post("/notices/read", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/notices"
    page = await (await student.get("/notices")).text()
    assert badge(page) == 0 and 'class="notice unread"' not in page
    assert "Занятие отменено" in page  # still listed, read
    assert await (await student.get("/api/v1/notices/unread")).json() == {"unread": 0}
    # Another student's notice stays unread.
    assert served.app[keys.NOTICES].unread(academy.student_ids[1]) == 1


async def test_kazakh_reader_and_nobody_outside_the_class(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    served.app[keys.ACCOUNTS].set_language(academy.student_ids[1], "kk")
    cancel(served, academy)
    page = await (await sign_in(academy.student_ids[1]).get("/notices")).text()
    assert "Сабақ болдырылмады: Уголовное право" in page
    assert "Себебі: болезнь" in page
    outsider = sign_in(academy.outsider_id)
    page = await (await outsider.get("/notices")).text()
    assert badge(page) == 0 and "Уголовное право" not in page
    for uid in (academy.other_teacher_id, academy.staff_id):
        assert served.app[keys.NOTICES].count(uid) == 0


async def test_a_notice_opens_its_class_for_its_reader_only(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    cancel(served, academy)
    mine = served.app[keys.NOTICES].page(academy.student_ids[0])[0]
    other = sign_in(academy.student_ids[1])
    r = await other.get(f"/notices/{mine.id}", allow_redirects=False)
    assert r.status == 404
    r = await other.get("/notices/999999", allow_redirects=False)
    assert r.status == 404
    assert served.app[keys.NOTICES].unread(academy.student_ids[0]) == 1  # untouched
    me = sign_in(academy.student_ids[0])
    r = await me.get(f"/notices/{mine.id}", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/classes/{academy.class_id}"
    assert served.app[keys.NOTICES].unread(academy.student_ids[0]) == 0


async def test_signed_out_bad_page_and_forged_form(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    async with ClientSession() as anonymous:
        r = await anonymous.get(served.make_url("/notices"), allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/signin")
        r = await anonymous.get(served.make_url("/api/v1/notices/unread"))
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthenticated"
    student = sign_in(academy.student_ids[0])
    for bad in ("abc", "0", "-1", "9999999"):
        r = await student.get(f"/notices?page={bad}")
        assert r.status == 400, bad
    r = await student.get("/notices?page=5")  # past the last page: an empty page
    assert r.status == 200
    cancel(served, academy)
    r = await student.post("/notices/read", headers={"X-CSRF-Token": "forged"})
    assert r.status == 403
    assert served.app[keys.NOTICES].unread(academy.student_ids[0]) == 1


async def test_many_notices_page_newest_first(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, staff = served.app[keys.TIMETABLE], Actor(academy.staff_id, "Жанна")
    c = tt.get_class(academy.class_id)
    for n in range(1, 23):  # 22 moves: two pages of 20
        shift = timedelta(days=n)
        tt.move_class(c.id, c.starts_at + shift, c.ends_at + shift, by=staff, reason=f"№{n}",
                      on_day_off=True)  # fmt: skip
    served.app[keys.NOTICES].collect()
    student = sign_in(academy.student_ids[0])
    first = await (await student.get("/notices")).text()
    assert first.index("Причина: №22") < first.index("Причина: №3")
    assert "Причина: №2<" not in first and 'rel="next"' in first
    second = await (await student.get("/notices?page=2")).text()
    assert "Причина: №2<" in second and "Причина: №1<" in second and 'rel="prev"' in second
    assert badge(second) == 22


async def test_home_pages_count_the_decisions_waiting(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    director = app[keys.ACCOUNTS].by_login("director")[0].id
    head = app[keys.ACCOUNTS].by_login("head")[0].id
    now = app[keys.SETTINGS].clock()
    app[keys.GUESTS].file(
        class_id=academy.class_id, guest_name="Ержан Тоқтаров", organisation="Прокуратура",
        position="прокурор", contact="+7 701 000 00 00", topic="Тема", justification="Опыт",
        presents=True, by_id=head, by_name="Гаухар", at=now,
    )  # fmt: skip
    for learner in academy.student_ids[:2]:
        app[keys.EXCUSES].file(
            learner_id=learner, group_id=academy.group_id, reason=ExcuseReason.ILLNESS,
            first_day=date(2027, 3, 1), last_day=date(2027, 3, 3), document="справка",
            details="", by_id=academy.staff_id, by_name="Жанна", at=now,
        )  # fmt: skip
    app[keys.NOTICES].collect()
    home = await (await sign_in(director).get("/")).text()
    assert 'data-waiting="guests">1<' in home and 'data-waiting="excuses">2<' in home
    assert badge(home) == 3  # one guest request and two excuse requests wait for them
    home = await (await sign_in(head).get("/")).text()
    assert 'data-waiting="guests">1<' in home and 'data-waiting="excuses"' not in home
    for uid in (academy.teacher_id, academy.staff_id, academy.student_ids[0]):
        assert "data-waiting" not in await (await sign_in(uid).get("/")).text()


async def test_a_cancellation_and_a_decision_made_on_the_pages_reach_their_people(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """End to end, with the collector in the background: staff cancel a class on its page, the
    director decides an excuse request on its page."""
    student, teacher = sign_in(academy.student_ids[0]), sign_in(academy.teacher_id)
    staff = sign_in(academy.staff_id)
    r = await staff.post(
        f"/timetable/classes/{academy.class_id}/cancel",
        data={"reason": "преподаватель болен"},
        allow_redirects=False,
    )
    assert r.status == 303
    await unread_soon(student, 1)
    await unread_soon(teacher, 1)
    await unread_soon(staff, 0)  # staff are not among those told of a class
    app = served.app
    excuse = app[keys.EXCUSES].file(
        learner_id=academy.student_ids[0], group_id=academy.group_id,
        reason=ExcuseReason.ILLNESS, first_day=date(2027, 3, 1), last_day=date(2027, 3, 3),
        document="справка", details="", by_id=academy.staff_id, by_name="Жанна",
        at=app[keys.SETTINGS].clock(),
    )  # fmt: skip
    director = sign_in(app[keys.ACCOUNTS].by_login("director")[0].id)
    await unread_soon(director, 1)
    r = await director.post(
        f"/excuses/{excuse.id}/decision",
        data={"decision": "approve", "comment": ""},
        allow_redirects=False,
    )
    assert r.status == 303
    await unread_soon(student, 2)
    page = await (await student.get("/notices")).text()
    assert "Ваш рапорт об уважительной причине одобрен" in page
    assert "Дни с 01.03.2027 по 03.03.2027" in page
