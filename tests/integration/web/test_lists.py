"""Search and pagination on the lists that grow (issue 22, item 3): groups, the classes those
who watch the academy see on their home page, guest requests and excuse requests. Each is
searched and counted in SQL, 50 a page: 120 rows are three pages; a search narrows the list
and the pager keeps it; a Cyrillic search ignores case; ``%`` and ``_`` match themselves; a
page number that is none shows the first page (a page past the end, the last); and a viewer who
may see only some rows is shown, and counted, only those."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer

from access.models import Role
from admission.models import ExcuseReason
from admission.visibility import ClassFacts, Viewer, may_see_class
from scheduler.models import ClassFormat, ClassKind
from tests.conftest import Academy, Client, SignIn
from web.core import keys
from web.core.http import LANG_COOKIE
from web.core.paging import page_number

BAD_PAGES = ("0", "-1", "x", "²", "1.5", str(10**30), "")


def english(client: Client, served: TestServer) -> Client:
    client.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, served.make_url("/"))
    return client


async def page_of(client: Client, url: str) -> str:
    resp = await client.get(url)
    assert resp.status == 200, (url, resp.status)
    return await resp.text()


def found(html: str) -> int:
    """The count the list says it found."""
    match = re.search(r"(?:Groups|Classes|Requests) found: (\d+)\.", html)
    assert match, "no count on the page"
    return int(match[1])


def pager_of(html: str) -> tuple[int, int] | None:
    match = re.search(r"Page (\d+) of (\d+)", html)
    return (int(match[1]), int(match[2])) if match else None


def next_link(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">', html)
    return match[1].replace("&amp;", "&") if match else None


def test_a_page_number_that_is_none_is_the_first() -> None:
    for raw in BAD_PAGES:
        assert page_number(raw) == 1, raw
    assert page_number("3") == 3 and page_number(" 7 ") == 7


async def check_bad_pages(client: Client, path: str, first: str) -> None:
    """Every page number that is none shows the first page; one past the end, the last."""
    for raw in BAD_PAGES:
        html = await page_of(client, f"{path}?page={raw}")
        assert first in html and pager_of(html) == (1, 3), raw
    last = await page_of(client, f"{path}?page=999")
    assert pager_of(last) == (3, 3)


# -- groups ---------------------------------------------------------------------------------------
async def test_groups_are_searched_and_paged(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    zone = tt.group(academy.group_id).timezone
    dept = tt.group(academy.group_id).department_id
    made = [tt.add_group(f"Группа {i:03d}", dept, "ru", zone) for i in range(118)]
    tt.add_group("Скидка 100%", dept, "ru", zone)
    tt.add_group("Группа_А", dept, "ru", zone)  # 122 groups with the two of the academy
    for g in made[:5]:
        tt.set_active(g.id, False)
    staff = english(sign_in(academy.staff_id), served)

    first = await page_of(staff, "/groups")
    assert found(first) == 122 and pager_of(first) == (1, 3)
    assert "Группа 000" in first and "Группа 060" not in first
    third = await page_of(staff, next_link(await page_of(staff, next_link(first) or "")) or "")
    assert pager_of(third) == (3, 3) and "ПД-24-2" in third and next_link(third) is None

    some = await page_of(staff, "/groups?q=группа+0")  # lower case finds "Группа"
    assert found(some) == 100 and pager_of(some) == (1, 2)
    kept = next_link(some)
    assert kept is not None and "q=" in kept and "page=2" in kept
    second = await page_of(staff, kept)
    assert "Группа 099" in second and "Группа 100" not in second and found(second) == 100

    assert found(await page_of(staff, "/groups?q=%25")) == 1  # "%" is a percent sign
    underscore = await page_of(staff, "/groups?q=_")
    assert found(underscore) == 1 and "Группа_А" in underscore
    inactive = await page_of(staff, "/groups?status=inactive&q=группа")
    assert found(inactive) == 5 and "Группа 004" in inactive and "Группа 005" not in inactive
    await check_bad_pages(staff, "/groups", "Группа 000")
    director = tt.institute_of_group(academy.group_id).director_id
    assert director is not None
    assert (await sign_in(director).get("/groups")).status == 403  # staff manage groups


# -- classes --------------------------------------------------------------------------------------
@pytest.fixture
def two_institutes(served: TestServer, academy: Academy) -> dict[str, int]:
    """Institute B beside the academy's institute A: its director, head, teacher, student and
    a group; A's group has 118 classes more (120 with the academy's two), B's has 7."""
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]

    def user(login: str, name: str, role: Role) -> int:
        return accounts.create_user(login=login, full_name=name, role=role).id

    director_b = user("dir-b", "Директор Б", Role.DIRECTOR)
    head_b = user("head-b", "Заведующий Б", Role.HEAD_OF_DEPARTMENT)
    teacher_b = user("teacher-b", "Преподаватель Б", Role.TEACHER)
    student_b = user("student-b", "Студент Б", Role.STUDENT)
    inst = tt.add_institute("Институт Б", director_b)
    dept = tt.add_department(inst.id, "Кафедра Б", head_b)
    zone = tt.group(academy.group_id).timezone
    group_b = tt.add_group("ЮР-25-1", dept.id, "ru", zone)
    tt.add_teacher(group_b.id, teacher_b)
    tt.add_members(group_b.id, [student_b])
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    def plan(title: str, teacher: int, group: int, day: int) -> None:
        at = start + timedelta(days=day)
        tt.add_class(
            title=title, kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=teacher, starts_at=at, ends_at=at + timedelta(minutes=80),
            group_ids=(group,), on_day_off=True,  # 118 days in a row: holidays among them
        )  # fmt: skip

    for i in range(118):
        title = "Право 50% и_ещё" if i == 0 else f"Лекция {i:03d}"
        plan(title, academy.teacher_id, academy.group_id, i)
    for i in range(7):
        plan(f"Занятие Б {i}", teacher_b, group_b.id, i)
    return {"director_b": director_b, "head_b": head_b, "group_b": group_b.id}


async def test_classes_are_searched_and_paged_within_what_one_may_see(
    served: TestServer, academy: Academy, sign_in: SignIn, two_institutes: dict[str, int]
) -> None:
    tt = served.app[keys.TIMETABLE]
    staff = english(sign_in(academy.staff_id), served)
    first = await page_of(staff, "/")
    assert found(first) == 127 and pager_of(first) == (1, 3)
    assert "Лекция 117" in first  # the latest first
    director_a = tt.institute_of_group(academy.group_id).director_id
    assert director_a is not None
    mine = await page_of(english(sign_in(director_a), served), "/")
    assert found(mine) == 120 and "Занятие Б" not in mine
    assert "Лекция 117" in mine and "Лекция 050" not in mine  # 50 a page
    for who in ("director_b", "head_b"):
        theirs = await page_of(english(sign_in(two_institutes[who]), served), "/")
        assert found(theirs) == 7 and pager_of(theirs) is None, who
        assert "Занятие Б 6" in theirs and "Лекция" not in theirs and "Уголовное" not in theirs
    # Searched by title, the teacher's name or a group's name, case aside.
    assert found(await page_of(staff, "/?q=лекция+01")) == 10
    by_teacher = await page_of(staff, "/?q=ИСКАКОВ")  # Марат Искаков teaches A's classes
    assert found(by_teacher) == 119 and pager_of(by_teacher) == (1, 3)
    kept = next_link(by_teacher)
    assert kept is not None and "q=" in kept
    assert found(await page_of(staff, kept)) == 119
    assert found(await page_of(staff, "/?q=юр-25")) == 7  # the group of B
    assert found(await page_of(staff, "/?q=50%25")) == 1
    assert found(await page_of(staff, "/?q=_")) == 1
    assert found(await page_of(staff, "/?q=%25%25")) == 0
    await check_bad_pages(staff, "/", "Лекция 117")


async def test_the_class_list_agrees_with_the_visibility_rule(
    served: TestServer, academy: Academy, sign_in: SignIn, two_institutes: dict[str, int]
) -> None:
    """What a viewer's home page counts is what ``may_see_class`` lets them see, for every
    role, with an individual class that only its learner (of the group) sees."""
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=300)
    tt.add_class(
        title="Отработка", kind=ClassKind.CONSULTATION, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=at, ends_at=at + timedelta(minutes=60),
        group_ids=(academy.group_id,), learner_ids=(academy.student_ids[0],), on_day_off=True,
    )  # fmt: skip
    every = tt.classes_between(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    institutes = tt.institutes_by_group()
    director_a = tt.institute_of_group(academy.group_id).director_id
    assert director_a is not None
    for who in (academy.staff_id, director_a, two_institutes["director_b"]):
        u = accounts.get(who)
        v = Viewer(
            user_id=u.id,
            role=u.role,
            institutes=frozenset(tt.institutes_of_person(u.id)),
            teaches=frozenset(tt.groups_of_teacher(u.id)),
            member_of=frozenset(g.id for g in tt.groups_of_member(u.id)),
        )
        expected = [
            c
            for c in every
            if may_see_class(
                v,
                ClassFacts(
                    c.teacher_id,
                    frozenset(c.group_ids),
                    frozenset(institutes[g] for g in c.group_ids),
                    frozenset(c.learner_ids),
                ),
            )
        ]
        html = await page_of(english(sign_in(who), served), "/")
        assert found(html) == len(expected), u.login
    # A head of A's department sees the individual class (of their institute): 121.
    head = await page_of(english(sign_in(accounts.by_login("head")[0].id), served), "/")
    assert found(head) == 121 and "Отработка" in head


# -- guest requests -------------------------------------------------------------------------------
async def test_guest_requests_are_searched_and_paged_within_what_one_may_see(
    served: TestServer, academy: Academy, sign_in: SignIn, two_institutes: dict[str, int]
) -> None:
    tt, accounts, guests = (
        served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS], served.app[keys.GUESTS],
    )  # fmt: skip
    head = accounts.by_login("head")[0]
    now = datetime.now(UTC).timestamp()
    names = [f"Гость {i:03d}" for i in range(118)] + ["Гость 50%", "Гость_Б"]
    made = []
    for i, name in enumerate(names):
        made.append(
            guests.file(
                class_id=academy.class_id, guest_name=name, organisation="Университет",
                position="Профессор", contact="guest@example.kz", topic="Опыт",
                justification="Практик", presents=False, by_id=head.id, by_name=head.full_name,
                at=now + i,
            )
        )  # fmt: skip
    director_a = tt.institute_of_group(academy.group_id).director_id
    assert director_a is not None
    for r in made[:3]:
        guests.reject(r.id, director_a, "Директор", "Нет", now + 500)
    staff = english(sign_in(academy.staff_id), served)
    first = await page_of(staff, "/guests")
    assert found(first) == 120 and pager_of(first) == (1, 3)
    assert "Гость_Б" in first and "Гость 003" not in first  # the waiting first, the newest first
    third = await page_of(staff, "/guests?page=3")
    assert "Rejected" in third and "Гость 000" in third
    director = english(sign_in(director_a), served)
    assert found(await page_of(director, "/guests")) == 120
    assert found(await page_of(english(sign_in(head.id), served), "/guests")) == 120
    for who in ("director_b", "head_b"):  # another institute's: none of these
        theirs = await page_of(english(sign_in(two_institutes[who]), served), "/guests")
        assert found(theirs) == 0 and "Гость" not in theirs, who
    some = await page_of(director, "/guests?q=гость+0")
    assert found(some) == 100
    kept = next_link(some)
    assert kept is not None and "q=" in kept
    assert found(await page_of(director, kept)) == 100
    assert found(await page_of(director, "/guests?q=%25")) == 1
    assert found(await page_of(director, "/guests?q=_")) == 1
    assert found(await page_of(director, "/guests?q=уголовное")) == 120  # the class's title
    decided = await page_of(director, "/guests?status=decided")
    assert found(decided) == 3 and "Гость 002" in decided
    await check_bad_pages(director, "/guests", "Гость_Б")
    assert (await sign_in(academy.student_ids[0]).get("/guests")).status == 403


# -- excuse requests ------------------------------------------------------------------------------
async def test_excuse_requests_are_searched_and_paged_within_what_one_may_see(
    served: TestServer, academy: Academy, sign_in: SignIn, two_institutes: dict[str, int]
) -> None:
    tt, accounts, excuses = (
        served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS], served.app[keys.EXCUSES],
    )  # fmt: skip
    staff_user = accounts.get(academy.staff_id)
    now = datetime.now(UTC).timestamp()
    learners = academy.student_ids
    odd = accounts.create_user(login="odd", full_name="Слушатель 50%_", role=Role.STUDENT).id
    tt.add_members(academy.group_id, [odd])
    for i in range(120):
        excuses.file(
            learner_id=learners[i % len(learners)] if i else odd, group_id=academy.group_id,
            reason=ExcuseReason.ILLNESS, first_day=date(2026, 3, 1) + timedelta(days=i % 20),
            last_day=date(2026, 3, 1) + timedelta(days=i % 20), document=f"Справка {i:03d}",
            details="Болел", by_id=staff_user.id, by_name=staff_user.full_name, at=now + i,
        )  # fmt: skip
    staff = english(sign_in(academy.staff_id), served)
    first = await page_of(staff, "/excuses")
    assert found(first) == 120 and pager_of(first) == (1, 3)
    director_a = tt.institute_of_group(academy.group_id).director_id
    assert director_a is not None
    director = english(sign_in(director_a), served)
    assert found(await page_of(director, "/excuses")) == 120
    other = await page_of(english(sign_in(two_institutes["director_b"]), served), "/excuses")
    assert found(other) == 0 and "Студент" not in other
    own = await page_of(english(sign_in(learners[2]), served), "/excuses")
    assert found(own) == 6 and "Студент 01" not in own  # 120 requests over 20 learners
    some = await page_of(director, "/excuses?q=студент+0")  # Студент 01 … 09: 5 + 8 × 6
    assert found(some) == 53 and pager_of(some) == (1, 2)
    kept = next_link(some)
    assert kept is not None and "q=" in kept
    assert found(await page_of(director, kept)) == 53
    assert found(await page_of(director, "/excuses?q=пд-24-1")) == 120  # the group's name
    assert found(await page_of(director, "/excuses?q=%25")) == 1
    assert found(await page_of(director, "/excuses?q=_")) == 1
    assert found(await page_of(director, "/excuses?status=decided")) == 0
    await check_bad_pages(director, "/excuses", "Студент")
    assert (await sign_in(academy.teacher_id).get("/excuses")).status == 403


# -- the timetable's groups -----------------------------------------------------------------------
async def test_the_timetables_groups_are_searched_and_paged_within_what_one_may_see(
    served: TestServer, academy: Academy, sign_in: SignIn, two_institutes: dict[str, int]
) -> None:
    tt = served.app[keys.TIMETABLE]
    group = tt.group(academy.group_id)
    for i in range(117):  # 120 with the academy's two and B's one
        tt.add_group(f"Поток {i:03d}", group.department_id, "ru", group.timezone)
    staff = english(sign_in(academy.staff_id), served)
    first = await page_of(staff, "/timetable")
    assert found(first) == 120 and pager_of(first) == (1, 3) and "Поток 000" in first
    some = await page_of(staff, "/timetable?q=поток+1")
    assert found(some) == 17 and "Поток 116" in some and pager_of(some) is None
    director_a = tt.institute_of_group(academy.group_id).director_id
    assert director_a is not None
    assert found(await page_of(english(sign_in(director_a), served), "/timetable")) == 119
    theirs = await page_of(english(sign_in(two_institutes["director_b"]), served), "/timetable")
    assert found(theirs) == 1 and "ЮР-25-1" in theirs and "Поток" not in theirs
    await check_bad_pages(staff, "/timetable", "Поток 000")
