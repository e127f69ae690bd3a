"""E-mail through the pages (issue 22, item 5): an account's address is checked where it is
typed (people pages, the API, one's profile, the import) with a message at the field; the
director e-mails an approved guest's invite to the address of the request, in the page's
language, and the page shows it queued, then sent; staff read the mail queue (a refused message
shown as not delivered, with the server's answer); nobody else does."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from access.models import Role
from control.mail_delivery import deliver_once
from control.notice_mail import NoticeMailer
from control.notice_text import render as render_notice
from scheduler.planning import Actor
from tests.conftest import Academy, Client, SignIn, SignInTo, free_port, seed_academy
from tests.integration.web.test_people import _csv
from tests.smtp_server import MailServer
from web.core import keys
from web.core.app import create_app
from web.core.contexts import smtp_server
from web.core.http import LANG_COOKIE
from web.core.settings import Settings

GUEST = {
    "guest_name": "Ержан Тоқтаров", "organisation": "Бас прокуратура", "position": "прокурор",
    "contact": "erzhan@prokuratura.test", "topic": "Қылмыстық іс",
    "justification": "Тәжірибемен бөлісу", "presents": "1",
}  # fmt: skip


@pytest.fixture
async def smtp() -> AsyncIterator[MailServer]:
    server = MailServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def mailing(settings: Settings, smtp: MailServer) -> AsyncIterator[TestServer]:
    """The application with e-mail set up (a server on loopback); the test delivers itself."""
    on = dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
        smtp_from="sabaq@academy.test", smtp_interval_seconds=0, smtp_retry_seconds=60,
        notice_interval_seconds=0,
    )  # fmt: skip
    server = TestServer(create_app(on), host="127.0.0.1", port=free_port())
    await server.start_server()
    yield server
    await server.close()


# -- an account's address -------------------------------------------------------------------------
async def test_an_account_address_is_checked_on_every_form(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    staff = sign_in(academy.staff_id)
    await staff.post("/language", data={"lang": "en"})
    new = {"login": "t.mail", "full_name": "Асель Нурова", "role": "teacher", "email": "asel@"}
    bad = await staff.post("/people/new", data=new)
    html = await bad.text()
    assert bad.status == 400
    assert 'id="email-error"' in html and "asel@ is not an e-mail address" in html
    assert 'aria-invalid="true"' in html and 'value="Асель Нурова"' in html  # nothing lost
    made = await staff.post(
        "/people/new", data=new | {"email": " asel@academy.kz "}, allow_redirects=False
    )
    assert made.status == 303
    person = accounts.by_login("t.mail")[0]
    assert person.email == "asel@academy.kz"
    page = await (await staff.get(f"/people/{person.id}")).text()
    assert 'value="asel@academy.kz"' in page
    form = {"full_name": person.full_name, "role": "teacher", "department_id": ""}
    refused = await staff.post(f"/people/{person.id}", data=form | {"email": "two words@x.kz"})
    assert refused.status == 400 and "two words@x.kz is not an e-mail address" in (
        await refused.text()
    )
    assert accounts.get(person.id).email == "asel@academy.kz"  # unchanged
    cleared = await staff.post(f"/people/{person.id}", data=form | {"email": ""})
    assert cleared.status == 200 and accounts.get(person.id).email is None

    # The API: a bad address is a 400 naming the field; null removes it, left out keeps it.
    api_bad = await staff.post(
        "/api/v1/people",
        json={"login": "api.mail", "full_name": "Через API", "role": "teacher",
              "email": "no-at-sign.kz"},
    )  # fmt: skip
    assert api_bad.status == 400
    problem = (await api_bad.json())["error"]
    assert problem["code"] == "bad_email" and "email" in problem["message"]
    api_made = await staff.post(
        "/api/v1/people",
        json={"login": "api.mail", "full_name": "Через API", "role": "teacher",
              "email": "api@academy.kz"},
    )  # fmt: skip
    assert api_made.status == 201 and (await api_made.json())["email"] == "api@academy.kz"
    pid = (await api_made.json())["id"]
    kept = await staff.patch(f"/api/v1/people/{pid}", json={"full_name": "Новое имя"})
    assert (await kept.json())["email"] == "api@academy.kz"
    assert (await staff.patch(f"/api/v1/people/{pid}", json={"email": "x@y"})).status == 400
    gone = await staff.patch(f"/api/v1/people/{pid}", json={"email": None})
    assert gone.status == 200 and (await gone.json())["email"] is None

    # One's own profile.
    teacher = sign_in(academy.teacher_id)
    await teacher.post("/language", data={"lang": "en"})
    own_bad = await teacher.post("/profile/email", data={"email": "marat@@academy.kz"})
    html = await own_bad.text()
    assert own_bad.status == 400 and "marat@@academy.kz is not an e-mail address" in html
    own = await teacher.post("/profile/email", data={"email": "marat@academy.kz"})
    assert own.status == 200 and "Your e-mail address is saved." in await own.text()
    assert accounts.get(academy.teacher_id).email == "marat@academy.kz"
    assert 'value="marat@academy.kz"' in await (await teacher.get("/profile")).text()

    # The import: an optional column, each bad address an error of its row.
    preview = await staff.post(
        "/people/import",
        data=_csv("login;ФИО;роль;e-mail", "i.one;Бірінші Оқытушы;teacher;one@academy.kz",
                  "i.two;Второй Преподаватель;teacher;не адрес", "i.three;Третий;staff;"),
    )  # fmt: skip
    html = await preview.text()
    assert "не адрес is not an e-mail address." in html and "Confirm import" not in html
    good = await staff.post(
        "/people/import",
        data=_csv("login;ФИО;роль;e-mail", "i.one;Бірінші Оқытушы;teacher;one@academy.kz",
                  "i.three;Третий;staff;"),
    )  # fmt: skip
    token = re.search(r'name="rows" value="([^"]+)"', await good.text())
    assert token
    done = await staff.post("/people/import/confirm", data={"rows": token[1]})
    assert done.status == 200
    assert accounts.by_login("i.one")[0].email == "one@academy.kz"
    assert accounts.by_login("i.three")[0].email is None


# -- a guest's invite -----------------------------------------------------------------------------
async def _approved(
    server: TestServer, academy: Academy, sign_in_to: SignInTo, contact: str, lang: str
) -> tuple[int, str, str, Client]:
    """A request filed by the head and approved by the director (whose pages are in
    ``lang``): its id, the approval page and the invite link on it, and the director's client."""
    accounts = server.app[keys.ACCOUNTS]
    head = sign_in_to(server, accounts.by_login("head")[0].id)
    filed = await head.post(
        f"/classes/{academy.class_id}/guests", data=GUEST | {"contact": contact},
        allow_redirects=False,
    )  # fmt: skip
    assert filed.status == 303, await filed.text()
    rid = int(filed.headers["Location"].rsplit("/", 1)[1])
    boss = sign_in_to(server, accounts.by_login("director")[0].id)
    boss.session.cookie_jar.update_cookies({LANG_COOKIE: lang}, server.make_url("/"))
    approved = await boss.post(f"/guests/{rid}/decision", data={"decision": "approve"})
    html = await approved.text()
    link = re.search(r'id="invite-link" class="invite-link" value="([^"]+)"', html)
    assert approved.status == 200 and link
    return rid, html, link[1], boss


async def test_the_director_emails_the_invite_in_the_page_language(
    mailing: TestServer, smtp: MailServer, sign_in_to: SignInTo
) -> None:
    academy = seed_academy(mailing.app)
    rid, html, link, boss = await _approved(
        mailing, academy, sign_in_to, "erzhan@prokuratura.test", "kk"
    )
    assert f'action="/guests/{rid}/invite-mail"' in html
    assert "Шақыруды erzhan@prokuratura.test мекенжайына электрондық поштамен жіберу" in html
    sent = await boss.post(f"/guests/{rid}/invite-mail", data={"invite": link})
    page = await sent.text()
    assert sent.status == 200 and "erzhan@prokuratura.test мекенжайына жіберу кезегіне" in page
    # Asked twice (a double click): queued once.
    await boss.post(f"/guests/{rid}/invite-mail", data={"invite": link})
    box = mailing.app[keys.MAIL]
    assert len(box.with_prefix(f"guest-invite:{rid}:")) == 1
    settings = mailing.app[keys.SETTINGS]
    assert await deliver_once(box, smtp_server(settings), settings.clock()) == 1
    (got,) = smtp.inbox.received
    assert got.recipients == ["erzhan@prokuratura.test"]
    assert got.message["Content-Language"] == "kk"
    assert str(got.message["Subject"]).endswith("сабағына шақыру")
    body = got.message.get_body()
    assert body is not None
    text = body.get_content()
    assert link in text and "Ержан Тоқтаров" in text and "Сәлеметсіз бе" in text
    shown = await (await boss.get(f"/guests/{rid}")).text()
    assert "электрондық поштамен" in shown and 'class="mail mail-sent"' in shown
    assert link not in shown  # the invite itself is still shown only once


async def test_an_invite_goes_only_to_an_address_and_only_with_its_token(
    mailing: TestServer, smtp: MailServer, sign_in_to: SignInTo
) -> None:
    academy = seed_academy(mailing.app)
    rid, html, link, boss = await _approved(mailing, academy, sign_in_to, "+7 701 000 00 00", "ru")
    assert "invite-mail" not in html  # a phone number: no button
    phone = await boss.post(f"/guests/{rid}/invite-mail", data={"invite": link})
    assert phone.status == 400 and "не адрес электронной почты" in await phone.text()
    rid2, _html, link2, boss = await _approved(mailing, academy, sign_in_to, "guest@uni.test", "ru")
    forged = await boss.post(
        f"/guests/{rid2}/invite-mail", data={"invite": link.replace("x", "y") + "A"}
    )
    assert forged.status == 409
    other = await boss.post(f"/guests/{rid2}/invite-mail", data={"invite": link})
    assert other.status == 409  # another request's invite
    teacher = sign_in_to(mailing, academy.outsider_id)
    outsider = await teacher.post(f"/guests/{rid2}/invite-mail", data={"invite": link2})
    assert outsider.status == 403
    assert mailing.app[keys.MAIL].recent() == []


async def test_no_mail_button_when_mail_is_off(
    served: TestServer, academy: Academy, sign_in_to: SignInTo
) -> None:
    rid, html, link, boss = await _approved(served, academy, sign_in_to, "guest@uni.test", "en")
    assert "invite-mail" not in html
    off = await boss.post(f"/guests/{rid}/invite-mail", data={"invite": link})
    assert off.status == 409 and "E-mail is not set up" in await off.text()


# -- notices by e-mail ---------------------------------------------------------------------------
async def test_notices_are_mailed_once_each_in_the_readers_language(
    mailing: TestServer, smtp: MailServer
) -> None:
    app = mailing.app
    academy = seed_academy(app)
    accounts, db = app[keys.ACCOUNTS], app[keys.DB]
    kk, ru, off = academy.student_ids[:3]  # the group's other learners have no address
    accounts.set_language(kk, "kk")
    accounts.set_language(ru, "ru")
    for who, address in ((kk, "kk@academy.test"), (ru, "ru@academy.test"),
                         (off, "off@academy.test")):  # fmt: skip
        accounts.set_email(who, address)
    app[keys.PEOPLE].deactivate(off)
    tt, notices, settings = app[keys.TIMETABLE], app[keys.NOTICES], app[keys.SETTINGS]
    tt.cancel_class(academy.class_id, by=Actor(academy.staff_id, "Жанна"), reason="болезнь")
    notices.collect()
    mailer = NoticeMailer(
        notices, accounts, app[keys.MAIL], app[keys.CATALOGUES], "ru", "https://sabaq.test/",
        settings.clock,
    )  # fmt: skip
    assert mailer.run_once() == 2  # the active readers with an address (not off)
    assert mailer.run_once() == 0
    db.execute("DELETE FROM mail_cursors")  # the cursor's move lost: still queued once
    db.commit()
    assert mailer.run_once() == 0
    assert await deliver_once(app[keys.MAIL], smtp_server(settings), settings.clock()) == 2
    got = {r.recipients[0]: r.message for r in smtp.inbox.received}
    assert set(got) == {"kk@academy.test", "ru@academy.test"}
    catalogues = app[keys.CATALOGUES]
    for address, lang in (("kk@academy.test", "kk"), ("ru@academy.test", "ru")):
        notice = next(n for n in notices.page(kk if lang == "kk" else ru))
        title, body, link = render_notice(notice, catalogues[lang].gettext)
        assert str(got[address]["Subject"]) == title and got[address]["Content-Language"] == lang
        text = got[address].get_body().get_content()  # type: ignore[union-attr]
        assert body in text and f"https://sabaq.test{link}" in text
    assert str(got["kk@academy.test"]["Subject"]) != str(got["ru@academy.test"]["Subject"])
    # A notice found long after it was made (mail off for days) is not mailed.
    tt.cancel_class(academy.other_class_id, by=Actor(academy.staff_id, "Жанна"), reason="")
    notices.collect()
    late = NoticeMailer(
        notices, accounts, app[keys.MAIL], app[keys.CATALOGUES], "ru",
        clock=lambda: settings.clock() + 2 * 86400,
    )  # fmt: skip
    assert late.run_once() == 0


# -- the mail queue -------------------------------------------------------------------------------
async def test_staff_see_the_mail_queue_and_nobody_else(
    mailing: TestServer, smtp: MailServer, sign_in_to: SignInTo
) -> None:
    academy = seed_academy(mailing.app)
    box = mailing.app[keys.MAIL]
    smtp.inbox.refuse = {"gone@academy.test": "550 5.1.1 No such mailbox"}
    box.enqueue("t:1", "gone@academy.test", "ru", "Перенос занятия", "…")
    box.enqueue("t:2", "ok@academy.test", "ru", "Отмена занятия", "…")
    box.enqueue("t:3", "later@academy.test", "ru", "Ещё не отправлено", "…")
    settings = mailing.app[keys.SETTINGS]
    await deliver_once(box, smtp_server(settings), settings.clock())
    box.enqueue("t:4", "new@academy.test", "ru", "В очереди", "…")
    staff = sign_in_to(mailing, academy.staff_id)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, mailing.make_url("/"))
    page = await staff.get("/mail")
    html = await page.text()
    assert page.status == 200 and "127.0.0.1" in html and "sabaq@academy.test" in html
    row = re.search(r'data-key="t:1">(.*?)</tr>', html, re.S)
    assert row and "Not delivered" in row[1] and "550" in row[1] and "No such mailbox" in row[1]
    sent = re.search(r'data-key="t:2">(.*?)</tr>', html, re.S)
    assert sent and "Sent" in sent[1]
    waiting = re.search(r'data-key="t:4">(.*?)</tr>', html, re.S)
    assert waiting and "Waiting" in waiting[1] and "next attempt" in waiting[1]
    failed_only = await (await staff.get("/mail?state=failed")).text()
    assert 'data-key="t:1"' in failed_only and 'data-key="t:2"' not in failed_only
    admin_id = (
        mailing.app[keys.ACCOUNTS].create_user(login="root", full_name="Админ", role=Role.ADMIN).id
    )
    assert (await sign_in_to(mailing, admin_id).get("/mail")).status == 200
    accounts = mailing.app[keys.ACCOUNTS]
    for who in (academy.teacher_id, academy.student_ids[0], accounts.by_login("director")[0].id,
                accounts.by_login("head")[0].id):  # fmt: skip
        assert (await sign_in_to(mailing, who).get("/mail")).status == 403, who


async def test_the_running_application_sends_what_is_queued(
    settings: Settings, smtp: MailServer
) -> None:
    """The sender the application starts (not a pass the test runs) delivers the outbox."""
    on = dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
        smtp_from="sabaq@academy.test", smtp_interval_seconds=0.05,
    )  # fmt: skip
    server = TestServer(create_app(on), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        server.app[keys.MAIL].enqueue("t:1", "reader@academy.test", "kk", "Хабарлама", "Мәтін")
        for _ in range(200):
            if smtp.inbox.received:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert smtp.inbox.subjects() == ["Хабарлама"]
    assert smtp.inbox.received[0].message["Message-ID"].endswith("@academy.test>")
