"""The agencies' HR services told by e-mail (issue 22, item 6; clauses 18, 19), through a real
SMTP server (aiosmtpd on loopback) and an injected clock: at the schedule's moments each agency
with HR addresses and learners in groups gets one mail per kind and month, to all its addresses,
with an XLSX of its own employees only (the coming month's timetable of their groups, each class
at its group's time; the past month's attendance, as the agency report has it); nothing twice
after a second run or a restart; nothing for an agency without addresses or without learners in
groups; the schedule staff set (a day past a month's end is its last day, December's timetable
is January's); the agency's page lists what was sent when and sends it again; only staff and
administrators see the log and send."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from access.audit import Action, AuditQuery, ObjectKind
from access.models import Role
from attendance.hr_dispatch import DispatchKind
from control.mail_delivery import deliver_once
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind
from scheduler.planning import Actor
from scheduler.sqlite_agencies import SqliteAgencies
from tests.conftest import Academy, SignInTo, free_port, seed_academy
from tests.integration.attendance.test_reports import march
from tests.smtp_server import MailServer
from web.core import keys
from web.core.app import create_app
from web.core.contexts import smtp_server
from web.core.hr_mail import hr_mailer
from web.core.http import LANG_COOKIE
from web.core.settings import Settings

ALMATY = ZoneInfo(DEFAULT_TIMEZONE)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MVD = "Министерство внутренних дел"
APK = "Агентство по противодействию коррупции"
NO_ADDRESS = "Служба без адресов"
NO_GROUP = "Ведомство без групп"
EMPTY = "Пустое ведомство"


class Moment:
    """The injected clock: stands still until moved."""

    def __init__(self, at: datetime) -> None:
        self.at = at.timestamp()

    def __call__(self) -> float:
        return self.at

    def to(self, at: datetime) -> None:
        self.at = at.timestamp()


def almaty(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ALMATY)


@pytest.fixture
def moment() -> Moment:
    # The academy is seeded in February (its two classes of "now" are February's).
    return Moment(almaty(2, 10, 9))


@pytest.fixture
async def smtp() -> AsyncIterator[MailServer]:
    server = MailServer()
    await server.start()
    yield server
    await server.stop()


def mail_settings(settings: Settings, smtp: MailServer, moment: Moment, **more: Any) -> Settings:
    """Mail to the server on loopback; the test delivers and runs the HR job itself."""
    values: dict[str, Any] = {
        "clock": moment, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
        "smtp_security": "none", "smtp_from": "sabaq@academy.test", "smtp_interval_seconds": 0,
        "smtp_retry_seconds": 60, "notice_interval_seconds": 0, "hr_mail_interval_seconds": 0,
    }  # fmt: skip
    return dataclasses.replace(settings, **(values | more))


async def start(settings: Settings) -> TestServer:
    server = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    return server


@pytest.fixture
async def hr(settings: Settings, smtp: MailServer, moment: Moment) -> AsyncIterator[TestServer]:
    server = await start(mail_settings(settings, smtp, moment))
    yield server
    await server.close()


@dataclasses.dataclass
class World:
    academy: Academy
    agencies: dict[str, int]  # name → id
    third_group: int  # in Moscow's zone, one of APK's learners in it


def world(server: TestServer) -> World:
    """Agencies with learners in groups and addresses (MVD: two learners, two addresses; APK:
    learners in three groups, one in Moscow's zone), one without addresses, one whose learner is
    in no group, one without learners; March's attendance and May's classes."""
    academy = seed_academy(server.app)
    accounts, tt = server.app[keys.ACCOUNTS], server.app[keys.TIMETABLE]
    s1, s2, s3, s4 = academy.student_ids[:4]
    for uid, name in (
        (s1, MVD),
        (s2, MVD),
        (s3, APK),
        (academy.outsider_id, APK),
        (s4, NO_ADDRESS),
    ):
        accounts.set_agency(uid, name)
    loner = accounts.create_user(login="loner", full_name="Одинокий Слушатель", role=Role.STUDENT)
    accounts.set_agency(loner.id, NO_GROUP)
    agencies = SqliteAgencies(server.app[keys.DB])
    agencies.create_agency(EMPTY, ("hr@empty.test",))
    ids = {a.name: a.id for a in agencies.agencies()}
    agencies.change_agency(ids[MVD], contacts=("hr@mvd.test", "chief@mvd.test"))
    agencies.change_agency(ids[APK], contacts=("kadry@apk.test",))
    agencies.change_agency(ids[NO_GROUP], contacts=("hr@nogroup.test",))
    march(server, academy)  # s1 attended both March classes, s2 one (late), s3 none
    dept = tt.group(academy.group_id).department_id
    moscow = tt.add_group("ПД-24-3", dept, "ru", "Europe/Moscow")
    tt.add_members(moscow.id, [s3])

    def lesson(title: str, group: int, at: datetime, teacher: int) -> int:
        return tt.add_class(
            title=title, kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=teacher, starts_at=at, ends_at=at + timedelta(minutes=90),
            group_ids=(group,), on_day_off=True,  # the mail, whatever the day
        ).id  # fmt: skip

    lesson("Уголовный процесс", academy.group_id, almaty(5, 12, 10), academy.teacher_id)
    dropped = lesson("Отменённое занятие", academy.group_id, almaty(5, 14, 10), academy.teacher_id)
    tt.cancel_class(dropped, by=Actor(academy.staff_id, "Жанна"), reason="праздник")
    other = tt.groups_of_member(academy.outsider_id)[0].id
    lesson("Административное право", other, almaty(5, 13, 11), academy.other_teacher_id)
    tt.add_teacher(moscow.id, academy.teacher_id)
    in_moscow = datetime(2026, 5, 15, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    lesson("Криминология", moscow.id, in_moscow, academy.teacher_id)
    return World(academy, ids, moscow.id)


def xlsx_rows(message: EmailMessage) -> list[list[Any]]:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == XLSX
    book = load_workbook(io.BytesIO(part.get_content()), read_only=True, data_only=True)
    rows = [list(r) for ws in book.worksheets for r in ws.iter_rows(values_only=True)]
    book.close()
    return rows


def table(rows: list[list[Any]], first: str) -> tuple[list[str], list[list[Any]]]:
    """The header (the row starting with ``first``) and the rows under it, to the blank one."""
    at = next(i for i, r in enumerate(rows) if r and r[0] == first)
    body = []
    for r in rows[at + 1 :]:
        if not r or r[0] in (None, ""):
            break
        body.append(r)
    return [str(h) for h in rows[at]], body


def by_agency(smtp: MailServer, since: int = 0) -> dict[str, EmailMessage]:
    """The mails received (from the ``since``-th on), by their sorted recipients."""
    return {",".join(sorted(r.recipients)): r.message for r in smtp.inbox.received[since:]}


async def deliver(server: TestServer) -> int:
    settings = server.app[keys.SETTINGS]
    return await deliver_once(server.app[keys.MAIL], smtp_server(settings), settings.clock())


MVD_TO, APK_TO = "chief@mvd.test,hr@mvd.test", "kadry@apk.test"


async def test_the_due_job_mails_each_agency_its_own_employees_once(
    settings: Settings, smtp: MailServer, moment: Moment
) -> None:
    on = mail_settings(settings, smtp, moment)
    server = await start(on)
    w = world(server)
    accounts = server.app[keys.ACCOUNTS]
    s1, s2, s3 = w.academy.student_ids[:3]
    names = {u: accounts.get(u).full_name for u in (s1, s2, s3, w.academy.outsider_id)}
    job = hr_mailer(server.app)

    moment.to(almaty(4, 3, 9, 59))  # a minute before the attendance is due
    assert job.run_once() == 0
    moment.to(almaty(4, 3, 10))
    assert job.run_once() == 2  # MVD and APK; not those without addresses or learners in groups
    assert job.run_once() == 0  # a second run: nothing
    assert await deliver(server) == 2
    got = by_agency(smtp)
    assert set(got) == {MVD_TO, APK_TO}
    mvd = got[MVD_TO]
    assert mvd["Content-Language"] == "ru"
    assert str(mvd["Subject"]) == f"Посещаемость занятий за март 2026 г.: {MVD}"
    body = mvd.get_body()
    assert body is not None and "пункт 19" in body.get_content() and MVD in body.get_content()
    assert [p.get_filename() for p in mvd.iter_attachments()] == ["Посещаемость 2026-03.xlsx"]
    header, rows = table(xlsx_rows(mvd), "Ведомство")
    col = {h: i for i, h in enumerate(header)}
    # The agency's own employees only, with the agency report's numbers.
    assert [(r[0], r[1], r[col["Посещено, %"]]) for r in rows] == [
        (MVD, names[s1], 100),
        (MVD, names[s2], 50),
    ]
    _, apk_rows = table(xlsx_rows(got[APK_TO]), "Ведомство")
    assert sorted(r[1] for r in apk_rows) == sorted([names[s3], names[w.academy.outsider_id]])
    assert {r[1]: r[col["Посещено, %"]] for r in apk_rows}[names[s3]] == 0

    log = server.app[keys.HR_DISPATCH]
    (logged,) = log.dispatches(w.agencies[MVD])
    assert (logged.kind, logged.month, logged.mail_key) == (
        DispatchKind.ATTENDANCE, "2026-03", f"hr:{w.agencies[MVD]}:attendance:2026-03",
    )  # fmt: skip
    assert sorted(logged.recipients) == ["chief@mvd.test", "hr@mvd.test"]
    assert logged.by_user_id is None
    for name in (NO_ADDRESS, NO_GROUP, EMPTY):
        assert log.dispatches(w.agencies[name]) == []
    await server.close()

    # Started again on the same database, the background job running every moment: the
    # attendance is not sent again; at the 25th the coming month's timetable goes.
    moment.to(almaty(4, 25, 10))
    server = await start(
        dataclasses.replace(on, hr_mail_interval_seconds=0.05, smtp_interval_seconds=0.05)
    )
    try:
        for _ in range(200):
            if len(smtp.inbox.received) >= 4:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # and nothing more comes
    finally:
        await server.close()
    assert len(smtp.inbox.received) == 4
    timetables = by_agency(smtp, 2)
    assert set(timetables) == {MVD_TO, APK_TO}
    mvd = timetables[MVD_TO]
    assert str(mvd["Subject"]) == f"Расписание занятий на май 2026 г.: {MVD}"
    header, rows = table(xlsx_rows(mvd), "Группа")
    assert header[:6] == ["Группа", "День", "Начало", "Окончание", "Часовой пояс", "Занятие"]
    # MVD's learners are in the first group only; the cancelled class is not listed.
    assert [r[:6] for r in rows] == [
        ["ПД-24-1", "2026-05-12", "10:00", "11:30", DEFAULT_TIMEZONE, "Уголовный процесс"]
    ]
    _, rows = table(xlsx_rows(timetables[APK_TO]), "Группа")
    # APK's learners are in all three groups; each class at its group's time.
    assert [r[:6] for r in rows] == [
        ["ПД-24-1", "2026-05-12", "10:00", "11:30", DEFAULT_TIMEZONE, "Уголовный процесс"],
        ["ПД-24-2", "2026-05-13", "11:00", "12:30", DEFAULT_TIMEZONE, "Административное право"],
        ["ПД-24-3", "2026-05-15", "10:00", "11:30", "Europe/Moscow", "Криминология"],
    ]


async def test_the_schedule_staff_set_decides_the_day_even_past_a_months_end(
    hr: TestServer, smtp: MailServer, moment: Moment, sign_in_to: SignInTo
) -> None:
    w = world(hr)
    staff = sign_in_to(hr, w.academy.staff_id)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, hr.make_url("/"))
    form = {"timetable_day": "31", "timetable_hour": "18", "timetable_enabled": "on",
            "attendance_day": "3", "attendance_hour": "10"}  # fmt: skip
    for bad in ({"timetable_day": "32"}, {"timetable_hour": "x"}, {"attendance_hour": "24"}):
        refused = await staff.post("/agencies/hr-schedule", data=form | bad)
        assert refused.status == 400
        assert "The day of the month is 1 to 31, the hour 0 to 23." in await refused.text()
    saved = await staff.post("/agencies/hr-schedule", data=form, allow_redirects=False)
    assert saved.status == 303
    page = await (await staff.get("/agencies")).text()
    assert 'name="timetable_day" type="number" min="1" max="31" value="31"' in page
    assert 'name="attendance_enabled"' in page and 'name="attendance_enabled" checked' not in page
    records, _ = hr.app[keys.AUDIT].find(AuditQuery(kind=ObjectKind.SETTINGS), 10)
    (record,) = [r for r in records if r.object_label == "HR mail schedule"]
    assert record.actor.id == w.academy.staff_id
    assert record.after == {"timetable_day": 31, "timetable_hour": 18, "attendance_enabled": False}
    assert record.before == {"timetable_day": 25, "timetable_hour": 10, "attendance_enabled": True}

    job, log = hr_mailer(hr.app), hr.app[keys.HR_DISPATCH]
    moment.to(almaty(4, 3, 12))
    assert job.run_once() == 0  # the attendance is switched off
    moment.to(almaty(4, 30, 17, 59))  # April has 30 days: the "31st" is the 30th
    assert job.run_once() == 0
    moment.to(almaty(4, 30, 18))
    assert job.run_once() == 2
    assert {d.month for d in log.dispatches(w.agencies[MVD])} == {"2026-05"}
    moment.to(almaty(12, 31, 18))  # December's timetable is January's of the next year
    assert job.run_once() == 2
    assert [d.month for d in log.dispatches(w.agencies[APK])] == ["2027-01", "2026-05"]
    assert await deliver(hr) == 4
    subjects = sorted(smtp.inbox.subjects())
    assert subjects[0] == f"Расписание занятий на май 2026 г.: {APK}"
    assert f"Расписание занятий на январь 2027 г.: {MVD}" in subjects


async def test_the_agency_page_shows_what_was_sent_and_sends_it_again(
    hr: TestServer, smtp: MailServer, moment: Moment, sign_in_to: SignInTo
) -> None:
    w = world(hr)
    mvd = w.agencies[MVD]
    moment.to(almaty(4, 3, 10))
    assert hr_mailer(hr.app).run_once() == 2
    assert await deliver(hr) == 2
    staff = sign_in_to(hr, w.academy.staff_id)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, hr.make_url("/"))
    page = await (await staff.get(f"/agencies/{mvd}")).text()
    assert "Mail to the HR service" in page
    assert f'data-key="hr:{mvd}:attendance:2026-03"' in page
    assert 'class="hr-dispatch mail mail-sent"' in page and "the schedule" in page
    assert "Attendance of the past month" in page and "chief@mvd.test, hr@mvd.test" not in page
    assert "hr@mvd.test, chief@mvd.test" in page
    (first,) = hr.app[keys.HR_DISPATCH].dispatches(mvd)

    # Without the CSRF token nothing is sent.
    token = staff.session.headers.pop("X-CSRF-Token")
    assert (await staff.post(f"/agencies/{mvd}/hr-mail/{first.id}/again")).status == 403
    staff.session.headers["X-CSRF-Token"] = token
    again = await staff.post(f"/agencies/{mvd}/hr-mail/{first.id}/again", allow_redirects=False)
    assert again.status == 303
    assert await deliver(hr) == 1
    second = smtp.inbox.received[-1]
    assert sorted(second.recipients) == ["chief@mvd.test", "hr@mvd.test"]
    assert second.message["Message-ID"] != smtp.inbox.received[0].message["Message-ID"]
    assert str(second.message["Subject"]) == f"Посещаемость занятий за март 2026 г.: {MVD}"
    _, rows = table(xlsx_rows(second.message), "Ведомство")
    assert len(rows) == 2
    resent, shown = hr.app[keys.HR_DISPATCH].dispatches(mvd)
    assert shown == first and resent.mail_key.startswith(f"hr:{mvd}:attendance:2026-03:again:")
    assert resent.by_user_id == w.academy.staff_id
    page = await (await staff.get(f"/agencies/{mvd}")).text()
    assert page.count('class="hr-dispatch mail mail-sent"') == 2
    assert "Жанна Серикбаева" in page  # who sent it again
    records, _ = hr.app[keys.AUDIT].find(AuditQuery(action=Action.SENT), 10)
    (record,) = records
    assert (record.object_id, record.after["kind"], record.after["month"]) == (
        mvd, "attendance", "2026-03",
    )  # fmt: skip

    # "Send now" for May's timetable, before the 25th: it is the month's mail, so the schedule
    # sends MVD none on the 25th (APK gets its own).
    now = await staff.post(
        f"/agencies/{mvd}/hr-mail", data={"kind": "timetable", "month": "2026-05"},
        allow_redirects=False,
    )  # fmt: skip
    assert now.status == 303
    assert hr.app[keys.HR_DISPATCH].logged(f"hr:{mvd}:timetable:2026-05")
    moment.to(almaty(4, 25, 10))
    assert hr_mailer(hr.app).run_once() == 1
    assert await deliver(hr) == 2
    assert sorted(",".join(sorted(r.recipients)) for r in smtp.inbox.received[-2:]) == [
        MVD_TO, APK_TO,
    ]  # fmt: skip

    # Bad input: a clear answer, nothing sent (signed in again: three weeks went by).
    staff = sign_in_to(hr, w.academy.staff_id)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, hr.make_url("/"))
    for data, status in (({"kind": "timetable", "month": "2026-13"}, 400),
                         ({"kind": "salary", "month": "2026-05"}, 400)):  # fmt: skip
        assert (await staff.post(f"/agencies/{mvd}/hr-mail", data=data)).status == status
    apk_first = hr.app[keys.HR_DISPATCH].dispatches(w.agencies[APK])[0]
    assert (await staff.post(f"/agencies/{mvd}/hr-mail/{apk_first.id}/again")).status == 404
    assert (await staff.post(f"/agencies/{mvd}/hr-mail/999999/again")).status == 404
    nobody = await staff.post(
        f"/agencies/{w.agencies[NO_ADDRESS]}/hr-mail",
        data={"kind": "attendance", "month": "2026-03"},
    )
    assert nobody.status == 409
    assert "The agency has no HR service&#39;s address" in await nobody.text()
    lonely = await staff.post(
        f"/agencies/{w.agencies[NO_GROUP]}/hr-mail",
        data={"kind": "attendance", "month": "2026-03"},
    )
    assert lonely.status == 409 and "None of the agency" in await lonely.text()
    assert await deliver(hr) == 0


async def test_only_staff_and_administrators_see_the_log_and_send(
    served: TestServer, sign_in_to: SignInTo
) -> None:
    academy = seed_academy(served.app)
    accounts = served.app[keys.ACCOUNTS]
    accounts.set_agency(academy.student_ids[0], MVD)
    agencies = SqliteAgencies(served.app[keys.DB])
    aid = agencies.agencies()[0].id
    agencies.change_agency(aid, contacts=("hr@mvd.test",))
    admin = accounts.create_user(login="admin", full_name="Админ", role=Role.ADMIN).id
    others = [accounts.by_login(login)[0].id for login in ("director", "head", "teacher")]
    others.append(academy.student_ids[0])
    send = {"kind": "attendance", "month": "2026-03"}
    schedule = {"timetable_day": "1", "timetable_hour": "1", "attendance_day": "1",
                "attendance_hour": "1"}  # fmt: skip
    for uid in others:
        who = sign_in_to(served, uid)
        assert (await who.get(f"/agencies/{aid}")).status == 403
        assert (await who.post(f"/agencies/{aid}/hr-mail", data=send)).status == 403
        assert (await who.post(f"/agencies/{aid}/hr-mail/1/again")).status == 403
        assert (await who.post("/agencies/hr-schedule", data=schedule)).status == 403
    assert served.app[keys.HR_DISPATCH].schedule()[DispatchKind.TIMETABLE].day == 25
    boss = sign_in_to(served, admin)
    boss.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, served.make_url("/"))
    page = await (await boss.get(f"/agencies/{aid}")).text()
    assert "Mail to the HR service" in page and "Nothing has been sent to this agency yet." in page
    # No mail server here: a clear refusal, nothing logged.
    off = await boss.post(f"/agencies/{aid}/hr-mail", data=send)
    assert off.status == 409 and "E-mail is not set up: nothing is sent." in await off.text()
    assert served.app[keys.HR_DISPATCH].dispatches(aid) == []
    saved = await boss.post("/agencies/hr-schedule", data=schedule, allow_redirects=False)
    assert saved.status == 303


async def test_a_run_cut_short_after_queuing_logs_the_mail_and_queues_it_once(
    hr: TestServer, smtp: MailServer, moment: Moment
) -> None:
    w = world(hr)
    key = f"hr:{w.agencies[MVD]}:attendance:2026-03"
    moment.to(almaty(4, 3, 10))
    # The process stopped between queuing MVD's mail and logging it.
    assert hr.app[keys.MAIL].enqueue(key, ["hr@mvd.test"], "ru", "Посещаемость", "…")
    assert hr_mailer(hr.app).run_once() == 2  # logged (MVD) and queued and logged (APK)
    assert [d.mail_key for d in hr.app[keys.HR_DISPATCH].dispatches(w.agencies[MVD])] == [key]
    assert await deliver(hr) == 2  # one each
    assert hr_mailer(hr.app).run_once() == 0
    assert await deliver(hr) == 0
