"""People and passwords (issue 22, items 3 and 4) through the served application: accounts
made, found and edited within each one's scope; a deactivated account's sessions end at once
and it signs in no more, neither with its password nor through a link; set-password links work
once and expire (by the server's clock, moved on here); the profile changes one's password and
ends one's other sessions; teachers and staff imported all or nothing."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestServer

from access.api_keys import Scope
from access.models import Role
from access.passwords import Passwords
from scheduler.models import ClassStatus
from tests.conftest import Academy, Clock, SignIn
from tests.peers import connect as connect_peer
from tests.peers import join, join_token, publish, wait_gone, ws_url
from web.core import keys

GOOD = "a long and quiet river"


class MovableClock(Clock):
    """The server's clock, which a test moves on."""

    def advance(self, seconds: float) -> None:
        assert self._offset is not None
        self._offset += seconds


@pytest.fixture
def clock() -> MovableClock:
    from datetime import UTC, datetime

    return MovableClock(datetime.now(UTC))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no form"
    return found[1]


def link_of(html: str) -> str:
    found = re.search(r'id="set-link" readonly value="([^"]+)"', html)
    assert found, "no set-password link on the page"
    return found[1].replace("&amp;", "&")


async def test_staff_make_find_and_edit_people(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    made = await staff.post(
        "/people/new",
        data={"login": "new.teacher", "full_name": "Айгерим Сапарова", "role": "teacher",
              "department_id": "1"},
        allow_redirects=False,
    )  # fmt: skip
    assert made.status == 303
    person = served.app[keys.ACCOUNTS].by_login("new.teacher")[0]
    assert person.role is Role.TEACHER and person.department_id == 1 and person.active
    taken = await staff.post(
        "/people/new", data={"login": "new.teacher", "full_name": "X", "role": "teacher"}
    )
    assert taken.status == 409
    admin = await staff.post(
        "/people/new", data={"login": "new.admin", "full_name": "Админ", "role": "admin"}
    )
    assert admin.status == 400  # staff give no one the administrator's role
    found = await (await staff.get("/people?q=сапар&role=teacher")).text()
    assert "Айгерим Сапарова" in found and "Марат Искаков" not in found
    edited = await staff.post(
        f"/people/{person.id}",
        data={"full_name": "Айгерим Сапарова-Ким", "role": "head_of_department",
              "department_id": "1"},
        allow_redirects=False,
    )  # fmt: skip
    assert edited.status == 303
    after = served.app[keys.ACCOUNTS].get(person.id)
    assert after.full_name == "Айгерим Сапарова-Ким" and after.role is Role.HEAD_OF_DEPARTMENT


async def test_the_list_pages_through_many_people(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    for i in range(120):
        accounts.create_user(login=f"t{i:03d}", full_name=f"Учитель {i:03d}", role=Role.TEACHER)
    staff = sign_in(academy.staff_id)
    first = await (await staff.get("/people?role=teacher")).text()
    assert "Учитель 000" in first and "Учитель 060" not in first and 'rel="next"' in first
    third = await (await staff.get("/people?role=teacher&page=3")).text()
    assert "Учитель 119" in third and 'rel="next"' not in third


async def test_a_head_and_a_director_manage_their_departments_people_only(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    director_b = accounts.create_user(login="dir-b", full_name="Директор Б", role=Role.DIRECTOR)
    inst_b = tt.add_institute("Институт Б", director_b.id)
    dept_b = tt.add_department(inst_b.id, "Кафедра Б", None)
    mine = accounts.create_user(
        login="mine", full_name="Свой Преподаватель", role=Role.TEACHER, department_id=1
    )
    theirs = accounts.create_user(
        login="theirs", full_name="Чужой Преподаватель", role=Role.TEACHER, department_id=dept_b.id
    )
    head = sign_in(accounts.by_login("head")[0].id)
    listed = await (await head.get("/people")).text()
    assert "Свой Преподаватель" in listed and "Чужой Преподаватель" not in listed
    assert "Жанна Серикбаева" not in listed  # staff are not a head's to manage
    assert (await head.get(f"/people/{theirs.id}")).status == 404
    assert (await head.get(f"/people/{academy.staff_id}")).status == 404
    moved = await head.post(
        f"/people/{mine.id}",
        data={"full_name": "Свой", "role": "teacher", "department_id": str(dept_b.id)},
    )
    assert moved.status == 400  # a head cannot send a teacher to another department
    # neither a head nor a director issues set-password links
    assert (await head.post(f"/people/{mine.id}/password-link")).status == 403
    off = await head.post(f"/people/{mine.id}/deactivate", allow_redirects=False)
    assert off.status == 303 and not accounts.get(mine.id).active
    deactivated = await (await head.get("/people?status=deactivated")).text()
    assert "Свой Преподаватель" in deactivated
    assert "Свой Преподаватель" not in await (await head.get("/people?status=active")).text()
    director_b_client = sign_in(director_b.id)
    assert "Чужой Преподаватель" in await (await director_b_client.get("/people")).text()
    assert (await director_b_client.get(f"/people/{mine.id}")).status == 404
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.get("/people")).status == 403


async def test_deactivation_ends_sessions_and_refuses_every_way_in(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    accounts.set_password_hash(academy.teacher_id, Passwords().hash(GOOD))
    teacher = sign_in(academy.teacher_id)
    other_tab = sign_in(academy.teacher_id)
    assert (await teacher.get("/")).status == 200
    staff = sign_in(academy.staff_id)
    assert (await staff.post(f"/people/{academy.staff_id}/deactivate")).status == 403  # own
    off = await staff.post(f"/people/{academy.teacher_id}/deactivate", allow_redirects=False)
    assert off.status == 303
    for client in (teacher, other_tab):  # every session ended at once
        assert (await client.get("/", allow_redirects=False)).status in (303, 401)
        token = await client.post(f"/classes/{academy.class_id}/join-token")
        assert token.status in (401, 403) or "/signin" in str(token.url)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        csrf = csrf_of(await (await s.get(served.make_url("/signin"))).text())
        refused = await s.post(
            served.make_url("/signin"),
            data={"login": "teacher", "password": GOOD, "csrf_token": csrf},
            allow_redirects=False,
        )
        assert refused.status == 403 and "sabaq_session" not in refused.cookies
        link = served.app[keys.SIGNER].mint_signin(user_id=academy.teacher_id, ttl=60)
        assert (await s.get(served.make_url(f"/signin/link?token={link}"))).status == 401
    # the portal cannot mint a join link for the deactivated teacher either
    _key, secret = served.app[keys.API_KEYS].create("portal", frozenset(Scope), academy.staff_id)
    async with ClientSession(headers={"Authorization": f"Bearer {secret}"}) as s:
        join = await s.post(
            served.make_url("/api/v1/join-links"),
            json={"user_id": academy.teacher_id, "class_id": academy.class_id},
        )
        assert join.status == 403
    # history stays: the class is still the teacher's; reactivated, the password works again
    assert served.app[keys.TIMETABLE].get_class(academy.class_id).teacher_id == academy.teacher_id
    await staff.post(f"/people/{academy.teacher_id}/reactivate")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        csrf = csrf_of(await (await s.get(served.make_url("/signin"))).text())
        back = await s.post(
            served.make_url("/signin"),
            data={"login": "teacher", "password": GOOD, "csrf_token": csrf},
            allow_redirects=False,
        )
        assert back.status == 303


async def _set_password(s: ClientSession, url: str, password: str) -> int:
    page = await s.get(url)
    if page.status != 200:
        return page.status
    html = await page.text()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token
    done = await s.post(
        url.split("?")[0],
        data={"csrf_token": csrf_of(html), "token": token[1], "new": password, "again": password},
        allow_redirects=False,
    )
    return done.status


async def test_a_set_password_link_works_once_and_expires(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: MovableClock
) -> None:
    staff = sign_in(academy.staff_id)
    issued = await staff.post(f"/people/{academy.teacher_id}/password-link")
    assert issued.status == 200 and issued.headers["Cache-Control"] == "no-store"
    url = link_of(await issued.text())
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        html = await (await s.get(url)).text()
        token = re.search(r'name="token" value="([^"]+)"', html)
        assert token
        common = await s.post(
            url.split("?")[0],
            data={"csrf_token": csrf_of(html), "token": token[1],
                  "new": "1q2w3e4r5t6y7u8i", "again": "1q2w3e4r5t6y7u8i"},
        )  # fmt: skip
        assert common.status == 400  # on the list of common passwords; the link still works
        assert await _set_password(s, url, GOOD) == 303
        assert await _set_password(s, url, "another long password") == 401  # used
    stored = served.app[keys.ACCOUNTS].by_login("teacher")[1]
    assert stored is not None and Passwords().verify(stored, GOOD)
    later = link_of(await (await staff.post(f"/people/{academy.teacher_id}/password-link")).text())
    clock.advance(48 * 3600 + 1)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        assert await _set_password(s, later, "another long password") == 401  # expired
    # a teacher cannot issue one; nobody issues one for someone they do not manage
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.post(f"/people/{academy.staff_id}/password-link")).status == 403
    # A link does not outlive a change of the account's role (a teacher made an administrator
    # must not be taken over by whoever kept a link issued for the teacher) ...
    people = served.app[keys.PEOPLE]
    staff = sign_in(academy.staff_id)  # signed in again: the clock moved past the first session
    kept = link_of(await (await staff.post(f"/people/{academy.teacher_id}/password-link")).text())
    people.update(academy.teacher_id, full_name="Марат", role=Role.ADMIN, department_id=None)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        assert await _set_password(s, kept, "a third long password") == 401
    people.update(academy.teacher_id, full_name="Марат", role=Role.TEACHER, department_id=None)
    # ... nor its issuer's deactivation.
    kept = link_of(await (await staff.post(f"/people/{academy.teacher_id}/password-link")).text())
    people.deactivate(academy.staff_id)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        assert await _set_password(s, kept, "a third long password") == 401


async def test_the_profile_changes_password_and_language_and_ends_other_sessions(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    accounts.set_password_hash(academy.teacher_id, Passwords().hash(GOOD))
    me, elsewhere = sign_in(academy.teacher_id), sign_in(academy.teacher_id)
    assert (await me.get("/profile")).status == 200
    wrong = await me.post(
        "/profile/password", data={"current": "nope", "new": "x" * 20, "again": "x" * 20}
    )
    assert wrong.status == 400
    common = await me.post(
        "/profile/password",
        data={"current": GOOD, "new": "qwerty123456789", "again": "qwerty123456789"},
    )
    assert common.status == 400 and "самых распространённых паролей" in await common.text()
    short = await me.post(
        "/profile/password", data={"current": GOOD, "new": "Teacher", "again": "Teacher"}
    )
    assert short.status == 400
    changed = await me.post(
        "/profile/password",
        data={"current": GOOD, "new": "a brand new phrase", "again": "a brand new phrase"},
    )
    assert changed.status == 200
    assert (await me.get("/", allow_redirects=False)).status == 200  # this session stays
    assert (await elsewhere.get("/", allow_redirects=False)).status == 303  # the other ended
    another = sign_in(academy.teacher_id)
    ended = await me.post("/profile/sessions/end")
    assert ended.status == 200 and (await another.get("/", allow_redirects=False)).status == 303
    lang = await me.post("/profile/language", data={"lang": "kk"})
    assert lang.status == 200 and accounts.get(academy.teacher_id).language == "kk"


async def test_guessing_the_current_password_on_the_profile_is_slowed_down(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """A session left open (a shared computer) is no way to guess the password at leisure:
    wrong current passwords wait as sign-in's do, and the right one works once the wait is
    over."""
    served.app[keys.ACCOUNTS].set_password_hash(academy.teacher_id, Passwords().hash(GOOD))
    me = sign_in(academy.teacher_id)
    free = served.app[keys.SETTINGS].signin_attempts
    new = {"new": "a brand new phrase", "again": "a brand new phrase"}
    for _ in range(free):
        wrong = await me.post("/profile/password", data={"current": "nope"} | new)
        assert wrong.status == 400
    waits = await me.post("/profile/password", data={"current": GOOD} | new)
    assert waits.status == 429 and int(waits.headers["Retry-After"]) >= 1
    assert "Слишком много попыток" in await waits.text()
    await asyncio.sleep(float(waits.headers["Retry-After"]) + 0.1)
    changed = await me.post("/profile/password", data={"current": GOOD} | new)
    assert changed.status == 200


def _csv(*lines: str) -> FormData:
    form = FormData()
    data = ("\n".join(lines) + "\n").encode()
    form.add_field("file", data, filename="people.csv", content_type="text/csv")
    return form


async def test_an_import_of_teachers_and_staff_is_all_or_nothing(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    await staff.post("/language", data={"lang": "en"})
    accounts = served.app[keys.ACCOUNTS]
    bad = await staff.post(
        "/people/import",
        data=_csv(
            "Логин;ФИО;Роль;Кафедра",
            "p.one;Первый Преподаватель;преподаватель;Кафедра",
            "teacher;Уже Есть;преподаватель;Кафедра",
            "p.two;;методист;",
        ),
    )
    html = await bad.text()
    assert bad.status == 200 and "This login is taken." in html and "Confirm import" not in html
    assert "The full name is missing." in html
    good = await staff.post(
        "/people/import",
        data=_csv(
            "login,full name,role,department",
            "p.one,Первый Преподаватель,teacher,Кафедра",
            "p.two,Второй Методист,staff,",
        ),
    )
    html = await good.text()
    token = re.search(r'name="rows" value="([^"]+)"', html)
    assert token and "Confirm import" in html
    # meanwhile someone takes one of the logins: the import makes nobody
    accounts.create_user(login="p.two", full_name="Перехватчик", role=Role.STUDENT)
    late = await staff.post("/people/import/confirm", data={"rows": token[1]})
    assert late.status == 409
    with pytest.raises(Exception, match=r"p\.one"):
        accounts.by_login("p.one")
    served.app[keys.DB].execute("DELETE FROM users WHERE login = 'p.two'")
    served.app[keys.DB].commit()
    done = await staff.post("/people/import/confirm", data={"rows": token[1]})
    assert done.status == 200 and "Accounts created: 2." in await done.text()
    one, two = accounts.by_login("p.one")[0], accounts.by_login("p.two")[0]
    assert one.role is Role.TEACHER and one.department_id == 1 and two.role is Role.STAFF
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.get("/people/import")).status == 403


async def test_the_people_api_within_scope(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    made = await staff.post(
        "/api/v1/people",
        json={"login": "api.teacher", "full_name": "Через API", "role": "teacher",
              "department_id": 1},
    )  # fmt: skip
    assert made.status == 201
    person = await made.json()
    assert person["role"] == "teacher" and person["active"] is True
    page = await (await staff.get("/api/v1/people?q=через&limit=10")).json()
    assert page["total"] == 1 and page["items"][0]["id"] == person["id"]
    patched = await staff.patch(f"/api/v1/people/{person['id']}", json={"full_name": "Новое"})
    assert patched.status == 200 and (await patched.json())["full_name"] == "Новое"
    up = await staff.patch(f"/api/v1/people/{person['id']}", json={"role": "admin"})
    assert up.status == 403
    off = await staff.post(f"/api/v1/people/{person['id']}/deactivate")
    assert off.status == 200 and (await off.json())["active"] is False
    on = await staff.post(f"/api/v1/people/{person['id']}/reactivate")
    assert (await on.json())["active"] is True
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.get("/api/v1/people")).status == 403
    _key, secret = served.app[keys.API_KEYS].create(
        "portal", frozenset({Scope.READ}), academy.staff_id
    )
    async with ClientSession(headers={"Authorization": f"Bearer {secret}"}) as s:
        assert (await s.get(served.make_url("/api/v1/people"))).status == 403  # no scope
    _key, secret = served.app[keys.API_KEYS].create(
        "portal", frozenset({Scope.PEOPLE}), academy.staff_id
    )
    async with ClientSession(headers={"Authorization": f"Bearer {secret}"}) as s:
        listed = await (await s.get(served.make_url("/api/v1/people?role=student"))).json()
        assert listed["total"] == 21
        # The portal's key enrols learners and teachers, never one who manages others: a
        # leaked key makes no staff member and takes over or promotes no account.
        for role in ("staff", "director", "head_of_department", "admin"):
            made = await s.post(
                served.make_url("/api/v1/people"),
                json={"login": f"key.{role}", "full_name": "Ключ", "role": role},
            )
            assert made.status == 403, role
        student_id = academy.student_ids[0]
        promoted = await s.patch(
            served.make_url(f"/api/v1/people/{student_id}"),
            json={"full_name": "Студент", "role": "staff"},
        )
        assert promoted.status == 403
        staff_off = await s.post(served.make_url(f"/api/v1/people/{academy.staff_id}/deactivate"))
        assert staff_off.status in (403, 404)
        assert served.app[keys.ACCOUNTS].get(academy.staff_id).active
        made = await s.post(
            served.make_url("/api/v1/people"),
            json={"login": "key.teacher", "full_name": "Ключ", "role": "teacher"},
        )
        assert made.status == 201


async def test_a_deactivated_learner_is_taken_out_of_the_live_class_and_kept_out(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, node = served.app[keys.TIMETABLE], served.app[keys.MEDIA_NODE]
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    async with asyncio.timeout(10):
        while tt.get_class(academy.class_id).status is not ClassStatus.LIVE:
            await asyncio.sleep(0.02)
    learner_id = academy.student_ids[0]
    learner_client = sign_in(learner_id)
    spare = await join_token(learner_client, academy.class_id)  # minted before, used after
    student = await join(learner_client, academy.class_id)
    staff = sign_in(academy.staff_id)
    assert (await staff.post(f"/people/{learner_id}/deactivate")).status == 200
    await wait_gone(node, academy.class_id, learner_id)  # out at once
    taken_out = await served.app[keys.MEDIA_CONTROL].taken_out(academy.class_id)
    assert taken_out[learner_id] == "deactivated"
    again = await connect_peer(ws_url(learner_client, academy.class_id), spare["token"])
    refused = await again.wait_for("error")
    # the join token minted before does not bring them back (refused as a control-plane bar)
    assert refused["code"] in ("deactivated", "revoked") and await again.wait_closed() == 4003
    # reactivated while the class is still live: the bar of deactivation is lifted
    assert (await staff.post(f"/people/{learner_id}/reactivate")).status == 200
    assert (
        "deactivated"
        not in (await served.app[keys.MEDIA_CONTROL].taken_out(academy.class_id)).values()
    )
    for peer in (again, student, teacher):
        await peer.close()
