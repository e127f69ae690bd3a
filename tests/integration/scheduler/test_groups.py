"""Staff manage groups: create groups and programmes (names unique), assign teachers, and import
members from CSV or XLSX — a preview that writes nothing, then a confirmation that checks every
row again and writes them together; forged confirmations make nothing but valid students."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import pytest
import xlsxwriter  # type: ignore[import-untyped]
from aiohttp import FormData
from aiohttp.test_utils import TestServer

from access.errors import LoginTaken
from access.models import Role
from access.sealed import import_key, seal
from scheduler.models import ProgrammeKind
from scheduler.roster import (
    FileProblem,
    RosterFileError,
    RowProblem,
    RowStatus,
    check,
    make_row,
    parse,
)
from scheduler.sqlite_groups import SqliteGroups
from tests.conftest import Academy, Client, SignIn
from tests.integration.attendance.test_reports import english
from web.core import keys
from web.core.http import LANG_COOKIE

KAZAKH = "ә ғ қ ң ө ұ ү һ і"
FORMULA_NAME = '=HYPERLINK("http://evil.example";"Ғалым")'


def csv_bytes(rows: list[list[str]], delimiter: str = ";", bom: bool = True) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def xlsx_bytes(rows: list[list[Any]], formula: tuple[int, int, str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    book: Any = xlsxwriter.Workbook(
        buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False}
    )
    sheet = book.add_worksheet("Слушатели")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, value)
    if formula is not None:  # a real formula, with the value Excel would have stored for it
        r, c, text, value = formula
        sheet.write_formula(r, c, text, None, value)
    book.close()
    return buf.getvalue()


def upload(data: bytes, filename: str) -> FormData:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


def token_of(html: str) -> str:
    found = re.search(r'name="rows" value="([^"]+)"', html)
    assert found, "the preview has no confirmation form"
    return found.group(1)


def user_count(served: TestServer) -> int:
    return int(served.app[keys.DB].execute("SELECT COUNT(*) FROM users").fetchone()[0])


def non_students(served: TestServer) -> list[tuple[str, str]]:
    rows = served.app[keys.DB].execute(
        "SELECT login, role FROM users WHERE role != 'student' ORDER BY id"
    )
    return [(r[0], r[1]) for r in rows]


def additional_group(served: TestServer, academy: Academy, name: str = "ПК-26-1") -> int:
    tt = served.app[keys.TIMETABLE]
    institute = tt.institute_of_group(academy.group_id)
    course = tt.add_programme("Повышение квалификации", ProgrammeKind.ADDITIONAL, institute.id)
    dept = tt.group(academy.group_id).department_id
    return tt.add_group(name, dept, "kk", "Asia/Almaty", programme_id=course.id).id


# -- the parser -----------------------------------------------------------------------------------
def test_headers_in_three_languages_and_either_separator() -> None:
    english_commas = csv_bytes([["Login", "Full name"], ["a.b", "Ann Bee"]], ",", bom=False)
    assert [(r.line, r.login, r.full_name, r.agency) for r in parse(english_commas)] == [
        (2, "a.b", "Ann Bee", "")
    ]
    russian = csv_bytes([["ФИО", "Ведомство", "Логин"], ["Иванов  Иван ", "МВД", " IVANOV "]])
    assert [(r.login, r.full_name, r.agency) for r in parse(russian)] == [
        ("ivanov", "Иванов Иван", "МВД")
    ]
    kazakh = csv_bytes([["логин", "Аты-жөні", "мекеме"], ["", "", ""], ["ә.b", "Әлия", "ҰҚК"]])
    rows = parse(kazakh)
    assert [(r.line, r.full_name) for r in rows] == [(3, "Әлия")]  # the blank row is skipped
    assert check(rows, {}, set())[0].problem is RowProblem.BAD_LOGIN  # logins are Latin
    for bad, problem in (
        (csv_bytes([["a.b", "Ann Bee"]]), FileProblem.HEADER),
        ("логин;ФИО\nivanov;Иванов".encode("cp1251"), FileProblem.ENCODING),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), FileProblem.OLD_EXCEL),
        (b"PK\x03\x04 not really a workbook", FileProblem.UNREADABLE),
        (b" \r\n", FileProblem.EMPTY),
        (csv_bytes([["login", "ФИО"]]), FileProblem.EMPTY),
        (csv_bytes([["login", "name"]] + [[f"u{i}", "N"] for i in range(2001)]),
         FileProblem.TOO_MANY_ROWS),
    ):  # fmt: skip
        with pytest.raises(RosterFileError) as refused:
            parse(bad)
        assert refused.value.problem is problem


# -- groups and programmes ------------------------------------------------------------------------
async def test_staff_create_a_programme_and_a_group_and_names_stay_unique(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    staff = english(sign_in(academy.staff_id), served)
    dept = tt.group(academy.group_id).department_id
    institute = tt.institute_of_group(academy.group_id).id
    page = await staff.get("/groups/new")
    assert page.status == 200 and "Кафедра" in await page.text()

    made = await staff.post(
        "/programmes",
        data={"programme_name": "Курсы", "kind": "additional", "institute_id": str(institute)},
        allow_redirects=False,
    )
    assert made.status == 303, await made.text()
    programme_id = int(made.headers["Location"].rsplit("=", 1)[1])
    assert tt.programme(programme_id).kind is ProgrammeKind.ADDITIONAL
    assert tt.programme(programme_id).distance  # the default
    mixed = await staff.post(
        "/programmes",
        data={
            "programme_name": "Очная магистратура",
            "kind": "postgraduate",
            "institute_id": str(institute),
            "distance": "0",
        },
        allow_redirects=False,
    )
    assert not tt.programme(int(mixed.headers["Location"].rsplit("=", 1)[1])).distance
    odd = await staff.post(
        "/programmes",
        data={
            "programme_name": "X",
            "kind": "postgraduate",
            "institute_id": str(institute),
            "distance": "maybe",
        },
    )
    assert odd.status == 400 and "distance programme" in await odd.text()
    refused = await staff.post(
        "/programmes", data={"programme_name": "", "kind": "additional", "institute_id": "1"}
    )
    assert refused.status == 400 and "Give the programme a name" in await refused.text()

    form = {
        "name": "ПК-26-1", "department_id": str(dept), "programme_id": str(programme_id),
        "language": "kk", "timezone": "Asia/Almaty", "starts_on": "2026-09-01",
        "ends_on": "2026-12-25",
    }  # fmt: skip
    created = await staff.post("/groups/new", data=form, allow_redirects=False)
    assert created.status == 303, await created.text()
    group = tt.group(int(created.headers["Location"].rsplit("/", 1)[1]))
    assert (group.name, group.language, group.timezone, group.programme_id) == (
        "ПК-26-1", "kk", "Asia/Almaty", programme_id,
    )  # fmt: skip
    assert str(group.starts_on) == "2026-09-01" and str(group.ends_on) == "2026-12-25"
    assert not group.active  # additional education: activated once it has 20

    listing = await (await staff.get("/groups")).text()
    assert "ПК-26-1" in listing and "Additional education" in listing
    assert "01.09.2026 — 25.12.2026" in listing and "Fewer than 20 students" in listing

    count = len(tt.groups())
    for change, message in (
        ({"name": "ПД-24-1"}, "A group named ПД-24-1 already exists"),
        ({"name": "ПК-26-1"}, "A group named ПК-26-1 already exists"),
        ({"name": " "}, "Give the group a name"),
        ({"name": "Новая", "timezone": "Mars/Olympus"}, "Unknown time zone Mars/Olympus"),
        ({"name": "Новая", "timezone": "../../etc/passwd"}, "Unknown time zone"),
        ({"name": "Новая", "ends_on": "2026-08-01"}, "The study period ends after it starts"),
        ({"name": "Новая", "starts_on": "1.9.2026"}, "YYYY-MM-DD"),
        ({"name": "Новая", "department_id": "999"}, "Choose the department"),
        ({"name": "Новая", "programme_id": "999"}, "Choose the programme"),
        ({"name": "Новая", "language": "de"}, "Choose the language of instruction"),
    ):
        resp = await staff.post("/groups/new", data=form | change)
        text = await resp.text()
        assert resp.status == 400 and message in text, (change, text[:2000])
        assert 'class="error"' in text and 'value="' in text  # the form again, filled in
    assert len(tt.groups()) == count

    # In Russian, the same page speaks of groups ("группы").
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "ru"}, served.make_url("/"))
    assert "Группы" in await (await staff.get("/groups")).text()


async def test_staff_assign_a_teacher(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    staff = english(sign_in(academy.staff_id), served)
    page = await (await staff.get(f"/groups/{academy.group_id}")).text()
    assert "Марат Искаков" in page and "Алма Бекова" in page  # a teacher, and a candidate
    added = await staff.post(
        f"/groups/{academy.group_id}/teachers",
        data={"teacher_id": str(academy.other_teacher_id)},
        allow_redirects=False,
    )
    assert added.status == 303
    assert academy.other_teacher_id in tt.teachers(academy.group_id)
    for wrong in (str(academy.student_ids[0]), str(academy.staff_id), "x", "9" * 30):
        resp = await staff.post(f"/groups/{academy.group_id}/teachers", data={"teacher_id": wrong})
        assert resp.status == 400 and "Choose a teacher" in await resp.text()
    assert (await staff.get("/groups/999999")).status == 404


# -- the import -----------------------------------------------------------------------------------
def mixed_rows(long_agency: str) -> list[list[str]]:
    return [
        ["Логин", "ФИО", "Ведомство"],
        ["aigerim.n", "Әйгерім Ғалымқызы Қаңтарбаева", "МВД РК"],  # 2
        ["oral.u", "Өрал Ұлықбекұлы Үсенов", ""],  # 3
        ["hakim.i", "Һәким Ілиясов", "КНБ"],  # 4
        ["formula.x", FORMULA_NAME, "@agency"],  # 5
        ["minus.name", "-Минус +Плюсов", ""],  # 6
        ["student01", "Студент 01", "Агентство"],  # 7: a member already
        ["outsider", "Чужой Студент", ""],  # 8: a student of another group
        ["teacher", "Марат Искаков", ""],  # 9: a teacher's login
        ["Bad Login!", "Кто-то", ""],  # 10
        ["", "Без логина", ""],  # 11
        ["nameless", "", ""],  # 12
        ["aigerim.n", "Дубликат", ""],  # 13
        ["long.agency", "Долгое Ведомство", long_agency],  # 14
    ]


async def test_a_csv_import_previews_without_writing_then_confirms_in_one_go(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    group_id = additional_group(served, academy)
    tt.add_members(group_id, [academy.student_ids[0]])
    staff = english(sign_in(academy.staff_id), served)
    users_before = user_count(served)

    names = " ".join(r[1] for r in mixed_rows(""))
    assert set(KAZAKH.split()) <= set(names.casefold())  # every letter Kazakh adds to Cyrillic
    data = csv_bytes(mixed_rows("x" * 201))
    assert data.startswith(b"\xef\xbb\xbf")
    # As a browser sends it: the CSRF token is a field of the multipart form, not a header.
    forged = upload(data, "список.csv")
    forged.add_field("csrf_token", "not the cookie's")
    refused = await staff.post(
        f"/groups/{group_id}/import", data=forged, headers={"X-CSRF-Token": ""}
    )
    assert refused.status == 403
    form = upload(data, "список.csv")
    form.add_field("csrf_token", staff.session.headers["X-CSRF-Token"])
    preview = await staff.post(
        f"/groups/{group_id}/import", data=form, headers={"X-CSRF-Token": ""}
    )
    html = await preview.text()
    assert preview.status == 200, html
    assert user_count(served) == users_before and tt.members(group_id) == [
        academy.student_ids[0]
    ]  # nothing written
    assert (
        "New students: 5. Existing students: 1. Already in the group: 1. Rows with errors: 6."
        in html
    )
    assert "Әйгерім Ғалымқызы Қаңтарбаева" in html and "Һәким Ілиясов" in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;;&#34;Ғалым&#34;)" in html  # text, escaped
    for message in (
        "This login belongs to an account that is not a student",
        "The login must be 2 to 63 characters",
        "The login is missing.",
        "The full name is missing.",
        "The same login is on line 2.",
        "The agency&#39;s name is longer than 200 characters.",
    ):
        assert message in html, message
    assert "Already in the group" in html and "Existing student" in html

    done = await staff.post(f"/groups/{group_id}/import/confirm", data={"rows": token_of(html)})
    result = await done.text()
    assert done.status == 200, result
    assert (
        "Student accounts created: 5. Added to the group: 6. Already in the group: 1."
        " Rows skipped: 6." in result
    )
    assert "The same login is on line 2." in result  # the skipped rows, listed
    assert "Fewer than 20 students" in result  # 8 members of an additional-education group
    assert user_count(served) == users_before + 5
    aigerim, password = accounts.by_login("aigerim.n")
    assert aigerim.role is Role.STUDENT and password is None
    assert (aigerim.full_name, aigerim.agency) == ("Әйгерім Ғалымқызы Қаңтарбаева", "МВД РК")
    assert accounts.by_login("oral.u")[0].full_name == "Өрал Ұлықбекұлы Үсенов"
    assert accounts.by_login("formula.x")[0].full_name == FORMULA_NAME  # kept as text
    assert accounts.by_login("formula.x")[0].agency == "@agency"
    assert accounts.by_login("minus.name")[0].full_name == "-Минус +Плюсов"
    assert accounts.get(academy.student_ids[0]).agency == "Агентство"  # the file's agency
    members = set(tt.members(group_id))
    logins = {u.login for u in accounts.many(members).values()}
    assert logins == {
        "aigerim.n", "oral.u", "hakim.i", "formula.x", "minus.name", "student01", "outsider",
    }  # fmt: skip
    assert accounts.by_login("teacher")[0].role is Role.TEACHER
    assert accounts.by_login("teacher")[0].id not in members
    assert academy.outsider_id in tt.members(tt.groups_of_member(academy.outsider_id)[0].id)

    # The same confirmation again changes nothing: everyone is a member already.
    again = await staff.post(f"/groups/{group_id}/import/confirm", data={"rows": token_of(html)})
    assert "Student accounts created: 0. Added to the group: 0. Already in the group: 7." in (
        await again.text()
    )
    assert user_count(served) == users_before + 5

    page = await (await staff.get(f"/groups/{group_id}")).text()
    assert "Һәким Ілиясов" in page and "hakim.i" in page and "МВД РК" in page
    assert ("<td>" + FORMULA_NAME.replace('"', "&#34;") + "</td>") in page


async def test_an_xlsx_import_works_the_same(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    group_id = additional_group(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    users_before = user_count(served)
    rows: list[list[Any]] = [
        ["login", "Аты-жөні", "agency"],
        ["erlan.k", "placeholder", "ҚР ІІМ"],  # the name is a formula below
        ["zhanar.s", FORMULA_NAME, ""],
        [20240001, "Сандық Логин", ""],  # a login Excel keeps as a number
        ["teacher", "Марат Искаков", ""],
        ["erlan.k", "Тағы да", ""],
    ]
    data = xlsx_bytes(rows, formula=(1, 1, '=CONCATENATE("Ерлан ","Қасымов")', "Ерлан Қасымов"))
    preview = await staff.post(f"/groups/{group_id}/import", data=upload(data, "тізім.xlsx"))
    html = await preview.text()
    assert preview.status == 200, html
    assert user_count(served) == users_before and tt.members(group_id) == []
    assert "New students: 3. Existing students: 0. Already in the group: 0." in html
    assert "Ерлан Қасымов" in html  # the stored value of a formula; nothing evaluated
    assert "This login belongs to an account that is not a student" in html
    assert "The same login is on line 2." in html

    done = await staff.post(f"/groups/{group_id}/import/confirm", data={"rows": token_of(html)})
    assert "Student accounts created: 3. Added to the group: 3." in await done.text()
    assert accounts.by_login("erlan.k")[0].full_name == "Ерлан Қасымов"
    assert accounts.by_login("erlan.k")[0].agency == "ҚР ІІМ"
    assert accounts.by_login("zhanar.s")[0].full_name == FORMULA_NAME
    assert accounts.by_login("20240001")[0].role is Role.STUDENT
    assert len(tt.members(group_id)) == 3


async def test_files_that_cannot_be_read_are_refused_with_a_message(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = english(sign_in(academy.staff_id), served)
    url = f"/groups/{academy.group_id}/import"
    for data, message in (
        (csv_bytes([["aigerim.n", "Әйгерім"]]), "The first row must name the columns"),
        ("логин;ФИО\nivanov;Иванов".encode("cp1251"), "Save the file as CSV in UTF-8"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "Old Excel files (.xls)"),
        (b"PK\x03\x04 not a workbook", "The file cannot be read"),
        (b"", "The file lists nobody"),
    ):
        resp = await staff.post(url, data=upload(data, "file"))
        assert resp.status == 400 and message in await resp.text(), message
    no_file = await staff.post(url, data={"file": "just text"})
    assert no_file.status == 400 and "Choose a CSV or XLSX file" in await no_file.text()
    big = csv_bytes([["login", "name"]] + [[f"user{i:05d}", "Имя " * 10] for i in range(2000)])
    assert (await staff.post(url, data=upload(big, "big.csv"))).status == 413


async def test_a_full_file_fits_through_preview_and_confirmation(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    group_id = additional_group(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    rows = [["логин", "ФИО", "ведомство"]] + [
        [f"kursant{i:04d}", f"Қайратұлы Әлібек {i:04d}", "Департамент полиции"] for i in range(700)
    ]
    data = csv_bytes(rows)
    assert 55_000 < len(data) < 64 * 1024
    preview = await staff.post(f"/groups/{group_id}/import", data=upload(data, "700.csv"))
    html = await preview.text()
    assert preview.status == 200 and "New students: 700." in html
    started = time.monotonic()
    done = await staff.post(f"/groups/{group_id}/import/confirm", data={"rows": token_of(html)})
    assert done.status == 200 and "Added to the group: 700." in await done.text()
    assert time.monotonic() - started < 10
    assert len(tt.members(group_id)) == 700 and tt.flags(tt.group(group_id)) == []


async def test_only_staff_manage_groups(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    data = csv_bytes([["login", "ФИО"], ["new.one", "Новый"]])
    gid = academy.group_id
    for who in (academy.teacher_id, academy.student_ids[0]):
        client = english(sign_in(who), served)
        for method, url, body in (
            ("GET", "/groups", None),
            ("GET", "/groups/new", None),
            ("GET", f"/groups/{gid}", None),
            ("POST", "/groups/new", {"name": "X"}),
            ("POST", "/programmes", {"programme_name": "X"}),
            ("POST", f"/groups/{gid}/teachers", {"teacher_id": str(academy.teacher_id)}),
            ("POST", f"/groups/{gid}/import", upload(data, "a.csv")),
            ("POST", f"/groups/{gid}/import/confirm", {"rows": "x.y"}),
        ):
            resp = await client.request(method, url, data=body)
            assert resp.status == 403, (who, url)
            assert "Groups are managed by staff." in await resp.text()
    assert (
        served.app[keys.DB].execute("SELECT 1 FROM users WHERE login = 'new.one'").fetchone()
        is None
    )


async def test_a_forged_confirmation_makes_nothing_but_valid_students(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    group_id = additional_group(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    key = import_key(served.app[keys.SETTINGS].secret_key)
    users_before = user_count(served)
    data = csv_bytes([["login", "ФИО"], ["honest.one", "Честный Слушатель"]])
    html = await (await staff.post(f"/groups/{group_id}/import", data=upload(data, "a.csv"))).text()
    real = token_of(html)

    async def confirm(client: Client, token: str) -> int:
        resp = await client.post(f"/groups/{group_id}/import/confirm", data={"rows": token})
        return resp.status

    # Unsigned, re-signed without the key, tampered, or for someone else: refused.
    blob, _, sig = real.partition(".")
    now = time.time()
    evil_rows = [[2, "root.admin", "Админ", ""]]
    other_staff = accounts.create_user(login="staff2", full_name="Другой", role=Role.STAFF)
    for token in (
        "",
        "garbage",
        blob,
        blob[:-4] + "AAAA." + sig,
        seal(b"a guessed key, not the application's", {"g": group_id, "u": academy.staff_id,
             "t": now, "rows": evil_rows}),
        seal(key, {"g": academy.group_id, "u": academy.staff_id, "t": now, "rows": evil_rows}),
        seal(key, {"g": group_id, "u": other_staff.id, "t": now, "rows": evil_rows}),
        seal(key, {"g": group_id, "u": academy.staff_id, "t": now - 7200, "rows": evil_rows}),
        seal(key, {"g": group_id, "u": academy.staff_id, "t": now,
                   "rows": [[2, "root.admin", "Админ", "", "admin"]]}),
        seal(key, {"g": group_id, "u": academy.staff_id, "t": now, "rows": "root.admin"}),
    ):  # fmt: skip
        assert await confirm(staff, token) == 400
    assert user_count(served) == users_before + 1  # staff2 only
    # Another staff member cannot confirm this one's preview either.
    assert await confirm(english(sign_in(other_staff.id), served), real) == 400

    staff_before = non_students(served)
    # Even a correctly signed confirmation (as if the key had leaked) is checked row by row: no
    # role but student, no account taken over, no bad login, no nameless account.
    forged = seal(
        key,
        {
            "g": group_id, "u": academy.staff_id, "t": now, "role": "admin",
            "rows": [
                [2, "teacher", "Марат Искаков", "Чужое ведомство"],
                [3, "staff", "Жанна", ""],
                [4, "Root Admin", "Админ", ""],
                [5, "no.name", "   ", ""],
                [6, "agency.long", "Слушатель", "x" * 201],
                [7, "fresh.one", "Новый\x00 Слушатель\n", ""],
                [8, "FRESH.ONE", "Дубль", ""],
            ],
        },
    )  # fmt: skip
    result = await staff.post(f"/groups/{group_id}/import/confirm", data={"rows": forged})
    text = await result.text()
    assert result.status == 200
    assert (
        "Student accounts created: 1. Added to the group: 1." in text and "Rows skipped: 6." in text
    )
    fresh, password = accounts.by_login("fresh.one")
    assert fresh.role is Role.STUDENT and password is None and fresh.full_name == "Новый Слушатель"
    teacher = accounts.by_login("teacher")[0]
    assert teacher.role is Role.TEACHER and teacher.agency is None
    assert accounts.by_login("staff")[0].role is Role.STAFF
    assert tt.members(group_id) == [fresh.id]
    assert user_count(served) == users_before + 2
    assert non_students(served) == staff_before

    # The honest preview still goes through.
    assert await confirm(staff, real) == 200
    assert accounts.by_login("honest.one")[0].id in tt.members(group_id)


async def test_an_import_writes_all_or_nothing_against_the_accounts_as_they_are(
    served: TestServer, academy: Academy
) -> None:
    """A login taken between the check and the write: refused, and nothing of the import is
    written; checked again, the login is the teacher's and is skipped."""
    tt, accounts = served.app[keys.TIMETABLE], served.app[keys.ACCOUNTS]
    store = SqliteGroups(served.app[keys.DB])
    rows = [make_row(2, "new.first", "Первый"), make_row(3, "late.teacher", "Поздний")]
    stale = check(rows, store.users_by_login(r.login for r in rows), set())
    assert [c.status for c in stale] == [RowStatus.NEW, RowStatus.NEW]
    accounts.create_user(login="late.teacher", full_name="Поздний", role=Role.TEACHER)
    with pytest.raises(LoginTaken):
        store.import_members(academy.group_id, stale)
    assert not store.users_by_login(["new.first"])
    members = set(tt.members(academy.group_id))
    fresh = check(rows, store.users_by_login(r.login for r in rows), members)
    assert fresh[1].problem is RowProblem.NOT_STUDENT
    counts = store.import_members(academy.group_id, fresh)
    assert (counts.created, counts.added, counts.already) == (1, 1, 0)
    assert accounts.by_login("late.teacher")[0].id not in tt.members(academy.group_id)
