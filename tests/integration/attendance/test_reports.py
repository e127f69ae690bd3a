"""Reports over many classes: a group's month, a learner's history, learners per agency; the
thresholds staff set; every download checkable against the ledger."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from access.events import EventKind
from access.ids import uuid7
from attendance.export import CHAIN_MARK, read_heads
from attendance.models import IncomingEvent
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind
from tests.conftest import Academy, Client, Clock, SignIn, on_days
from tests.locks import database_held
from web.core import keys
from web.core.http import LANG_COOKIE

FORMULA_NAME = '=HYPERLINK("http://evil.example","Ғалым")'
# 2026-03-02 10:00 and 2026-03-16 10:00 in Almaty (UTC+5), and one in April.
MARCH_2 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
MARCH_16 = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
APRIL_6 = datetime(2026, 4, 6, 5, 0, tzinfo=UTC)


def english(client: Client, served: TestServer) -> Client:
    client.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, served.make_url("/"))
    return client


def record(
    served: TestServer, class_id: int, kind: EventKind, user: int | None, at: datetime
) -> None:
    served.app[keys.LEDGER].append(
        IncomingEvent(
            id=str(uuid7()), kind=kind, class_id=class_id, node="media-1", node_seq=0,
            origin_time=at.timestamp(), user_id=user, role="learner",
        )
    )  # fmt: skip


def march(served: TestServer, academy: Academy) -> tuple[int, int, int]:
    """Three classes of the group; what its first three students did in them."""
    tt = served.app[keys.TIMETABLE]
    ids = []
    for start in (MARCH_2, MARCH_16, APRIL_6):
        c = tt.add_class(
            title="Криминалистика", kind=ClassKind.SEMINAR, format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(minutes=80),
            group_ids=(academy.group_id,),
        )  # fmt: skip
        ids.append(c.id)
    a, b, c_ = ids
    s1, s2, _s3 = academy.student_ids[:3]
    for cid, start in ((a, MARCH_2), (b, MARCH_16), (c_, APRIL_6)):
        record(served, cid, EventKind.CLASS_STARTED, academy.teacher_id, start)
        record(served, cid, EventKind.JOINED, s1, start + timedelta(minutes=1))
        record(served, cid, EventKind.LEFT, s1, start + timedelta(minutes=79))
    record(served, a, EventKind.JOINED, s2, MARCH_2 + timedelta(minutes=15))  # late
    record(served, a, EventKind.LEFT, s2, MARCH_2 + timedelta(minutes=80))
    for cid, start in ((a, MARCH_2), (b, MARCH_16), (c_, APRIL_6)):
        record(served, cid, EventKind.CLASS_ENDED, None, start + timedelta(minutes=80))
    return a, b, c_


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # Excel opens it as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_a_groups_month_lists_everyone_with_marks_and_totals(
    served: TestServer, academy: Academy, sign_in: SignIn, tmp_path: Path
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    weird = accounts.create_user(
        login="weird", full_name=FORMULA_NAME, role=accounts.get(academy.student_ids[0]).role
    )
    served.app[keys.TIMETABLE].add_members(academy.group_id, [weird.id])
    a, b, april = march(served, academy)
    staff = english(sign_in(academy.staff_id), served)

    page = await staff.get(f"/reports/groups/{academy.group_id}?month=2026-03")
    assert page.status == 200, await page.text()
    html = await page.text()
    assert "Attendance of group" in html and "02.03 10:00" in html and "16.03 10:00" in html
    assert "06.04" not in html  # April's class is not in March

    resp = await staff.get(f"/reports/groups/{academy.group_id}.csv?month=2026-03")
    assert resp.status == 200
    body = await resp.read()
    rows = rows_of(body)
    header = next(r for r in rows if r and r[0] == "Student")
    by_name = {
        r[0]: dict(zip(header, r, strict=False))
        for r in rows[rows.index(header) + 1 :]
        if r and r[0] != CHAIN_MARK and len(r) == len(header)
    }
    names = {accounts.get(u).full_name: u for u in academy.student_ids[:3]}
    s1, s2, s3 = (by_name[n] for n in names)
    a_col, b_col = header[1], header[2]
    assert (s1[a_col], s1[b_col], s1["Attended, %"], s1["Minutes present"]) == (
        "present",
        "present",
        "100",
        "156",
    )
    assert (s2[a_col], s2[b_col], s2["Attended, %"]) == ("late", "absent", "50")
    assert (s3[a_col], s3[b_col], s3["Attended, %"], s3["absent"]) == ("absent", "absent", "0", "2")
    assert len(by_name) == len(academy.student_ids) + 1  # every member, absentees included
    assert "'" + FORMULA_NAME in by_name  # kept as text, not run as a formula
    # The chain heads of both classes (and only those) ride along, and check out.
    heads = {h.class_id: h for h in _heads(body, tmp_path)}
    assert set(heads) == {a, b}
    ledger = served.app[keys.LEDGER]
    assert all(ledger.check_head(h.class_id, h.count, h.hash) is None for h in heads.values())
    # The page kept each class's digest beside the ledger and read it, not the events: an event
    # committed since changes the next report all the same (s3 came to the 16th after all; the
    # record came late), and a report drawn from the events alone says just the same.
    db = served.app[keys.DB]
    assert db.execute("SELECT COUNT(*) FROM class_digests").fetchone()[0] == 2
    s3_id = names[accounts.get(academy.student_ids[2]).full_name]
    record(served, b, EventKind.JOINED, s3_id, MARCH_16 + timedelta(minutes=2))
    record(served, b, EventKind.LEFT, s3_id, MARCH_16 + timedelta(minutes=79, seconds=30))
    again = await (await staff.get(f"/reports/groups/{academy.group_id}.csv?month=2026-03")).read()
    s3_row = next(r for r in rows_of(again) if r and r[0] == accounts.get(s3_id).full_name)
    assert (s3_row[1], s3_row[2]) == ("absent", "present")
    assert {h.class_id: h.count for h in _heads(again, tmp_path)}[b] == heads[b].count + 2
    # None kept (and none to be: the store refuses them), the report is drawn from the events.
    db.executescript(
        "DELETE FROM class_digests; CREATE TRIGGER keep_none BEFORE INSERT ON class_digests"
        " BEGIN SELECT RAISE(IGNORE); END;"
    )
    fresh = await (await staff.get(f"/reports/groups/{academy.group_id}.csv?month=2026-03")).read()
    assert db.execute("SELECT COUNT(*) FROM class_digests").fetchone()[0] == 0
    assert fresh == again

    xlsx = await staff.get(f"/reports/groups/{academy.group_id}.xlsx?month=2026-03")
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    values = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    assert [r[0] for r in values if r[0] == "'" + FORMULA_NAME] == ["'" + FORMULA_NAME]
    assert april not in heads

    bad = await staff.get(f"/reports/groups/{academy.group_id}?month=March")
    assert bad.status == 400 and "YYYY-MM" in await bad.text()
    student = sign_in(academy.student_ids[0])
    assert (await student.get(f"/reports/groups/{academy.group_id}")).status == 403
    teacher = sign_in(academy.teacher_id)  # the group's own teacher may look
    assert (await teacher.get(f"/reports/groups/{academy.group_id}?month=2026-03")).status == 200
    other = sign_in(academy.other_teacher_id)
    assert (await other.get(f"/reports/groups/{academy.group_id}")).status == 403


def _heads(body: bytes, tmp_path: Path) -> list:  # type: ignore[type-arg]
    path = tmp_path / "report.csv"
    path.write_bytes(body)
    return read_heads(path)


async def test_a_groups_month_is_served_at_once_while_another_writer_holds_the_database(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Opening a group's month keeps its classes' digests (a write), but another writer holding
    the database (a backup, the ledger's commits) neither fails the page nor holds it up: the
    digests wait for the next report, this one reads the events."""
    march(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    url = f"/reports/groups/{academy.group_id}.csv?month=2026-03"
    db = served.app[keys.DB]
    async with database_held(served.app[keys.SETTINGS].database_path):
        started = time.monotonic()
        held = await staff.get(url)
        assert held.status == 200, await held.text()
        assert time.monotonic() - started < 3  # not the database's busy timeout (5 s)
        body = await held.read()
        assert db.execute("SELECT COUNT(*) FROM class_digests").fetchone()[0] == 0
    assert await (await staff.get(url)).read() == body  # and kept once the writer let go
    assert db.execute("SELECT COUNT(*) FROM class_digests").fetchone()[0] == 2


async def test_a_learners_history_and_who_may_see_it(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    march(served, academy)
    s2 = academy.student_ids[1]
    own = english(sign_in(s2), served)
    resp = await own.get(f"/reports/learners/{s2}.xlsx")
    assert resp.status == 200
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(lines) if r[0] == "Class start")
    history = [r for r in lines[header + 1 :] if r[0] and str(r[0])[:4] == "2026"]
    # In time order, each class with its mark: late, absent, absent (April), and today's class.
    assert [r[3] for r in history[:3]] == ["late", "absent", "absent"]
    assert history[0][0] == "2026-03-02 10:00" and history[0][4] == "10:15:00"
    assert (await own.get(f"/reports/learners/{academy.student_ids[2]}")).status == 403
    staff = sign_in(academy.staff_id)
    assert (await staff.get(f"/reports/learners/{s2}")).status == 200
    assert (await staff.get("/reports/learners/99999")).status == 404


async def test_learners_per_agency_for_its_hr_service(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    march(served, academy)
    accounts = served.app[keys.ACCOUNTS]
    s1, s2, s3 = academy.student_ids[:3]
    accounts.set_agency(s1, "Министерство внутренних дел")
    accounts.set_agency(s2, "Министерство внутренних дел")
    accounts.set_agency(s3, "Агентство по противодействию коррупции")
    staff = english(sign_in(academy.staff_id), served)
    rows = rows_of(await (await staff.get("/reports/agencies.csv?month=2026-03")).read())
    header = next(r for r in rows if r and r[0] == "Agency")
    body = [r for r in rows[rows.index(header) + 1 :] if len(r) == len(header)]
    assert [(r[0], r[1]) for r in body] == [
        ("Агентство по противодействию коррупции", accounts.get(s3).full_name),
        ("Министерство внутренних дел", accounts.get(s1).full_name),
        ("Министерство внутренних дел", accounts.get(s2).full_name),
    ]
    col = {h: i for i, h in enumerate(header)}
    assert [r[col["Classes"]] for r in body] == ["2", "2", "2"]
    assert [r[col["Attended, %"]] for r in body] == ["0", "100", "50"]
    one = rows_of(
        await (
            await staff.get(
                "/reports/agencies.csv?month=2026-03&agency=Агентство по противодействию коррупции"
            )
        ).read()
    )
    assert sum(1 for r in one if r and r[0].startswith("Агентство")) == 1
    teacher = sign_in(academy.teacher_id)
    assert (await teacher.get("/reports/agencies")).status == 403


@on_days
async def test_staff_set_the_thresholds_from_now_on(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    march(served, academy)
    s2 = academy.student_ids[1]
    # Today's class is under way: it began half an hour ago, the student came 15 minutes late.
    began = clock.now() - timedelta(minutes=30)
    record(served, academy.class_id, EventKind.CLASS_STARTED, academy.teacher_id, began)
    record(served, academy.class_id, EventKind.JOINED, s2, began + timedelta(minutes=15))
    staff = english(sign_in(academy.staff_id), served)
    url = f"/reports/groups/{academy.group_id}.csv?month=2026-03"

    async def in_march() -> str:
        rows = rows_of(await (await staff.get(url)).read())
        name = served.app[keys.ACCOUNTS].get(s2).full_name
        return next(r for r in rows if r and r[0] == name)[1]

    async def today() -> str:
        page = await (await staff.get(f"/classes/{academy.class_id}/attendance")).text()
        found = re.search(rf'data-user="{s2}" data-mark="(\w+)"', page)
        assert found is not None
        return found.group(1)

    assert (await in_march(), await today()) == ("late", "late")  # the default is 10 minutes
    resp = await staff.post(
        "/reports/rules", data={"late_after_minutes": "20", "present_percent": "75"},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303
    assert await today() == "present"  # judged by the thresholds in force as it ends
    assert await in_march() == "late"  # a register already handed on is not rewritten
    page = await (await staff.get("/reports")).text()
    assert served.app[keys.ACCOUNTS].get(academy.staff_id).full_name in page
    this_month = datetime.fromtimestamp(clock(), ZoneInfo(DEFAULT_TIMEZONE)).strftime("%Y-%m")
    assert f"/reports/groups/{academy.group_id}?month={this_month}" in page  # by default
    bad = await staff.post(
        "/reports/rules", data={"late_after_minutes": "x", "present_percent": "75"}
    )
    assert bad.status == 400
    student = sign_in(academy.student_ids[0])
    refused = await student.post(
        "/reports/rules", data={"late_after_minutes": "0", "present_percent": "1"}
    )
    assert refused.status == 403
    assert await today() == "present"


@on_days
async def test_classes_that_did_not_take_place_have_no_register(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    march(served, academy)
    tt = served.app[keys.TIMETABLE]
    for start in (MARCH_2 + timedelta(days=1), clock.now() + timedelta(days=2)):
        tt.add_class(
            title="Не состоялось", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
            group_ids=(academy.group_id,), on_day_off=True,  # 2 January is a holiday
        )  # fmt: skip
    staff = english(sign_in(academy.staff_id), served)
    s3 = academy.student_ids[2]
    rows = rows_of(await (await staff.get(f"/reports/learners/{s3}.csv")).read())
    header = next(r for r in rows if r and r[0] == "Class start")
    listed = [r for r in rows[rows.index(header) + 1 :] if len(r) == len(header)]
    # The two March classes and April's took place; the one never started, the one to come
    # and today's (not begun) are no absences.
    assert [(r[1], r[3]) for r in listed] == [("Криминалистика", "absent")] * 3
