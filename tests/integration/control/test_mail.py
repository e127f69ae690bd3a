"""The e-mail outbox against a real SMTP server (aiosmtpd on loopback): each reader gets their
own language, attachments arrive intact, a key is sent once (also across a restart in the
middle of the queue), a server that was down gets the message later, a 5xx answer is given up
and recorded."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from access.models import Role, User
from control.database import connect
from control.mail import MAX_ATTEMPTS, Attachment, Mailbox, MailState, message_id
from control.mail_delivery import Security, SmtpServer, deliver_once, running
from control.words import language_of, render
from tests.smtp_server import MailServer, self_signed
from web.core.i18n import load_catalogues
from web.pages.guests import INVITE_BODY, INVITE_SUBJECT

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Ticks:
    """The injected clock: stands still until moved."""

    def __init__(self, at: float = 1_800_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _server(smtp: MailServer) -> SmtpServer:
    return SmtpServer(host="127.0.0.1", port=smtp.port, sender="sabaq@academy.test",
                      security="none", timeout=5)  # fmt: skip


def _box(path: Path, clock: Ticks) -> tuple[sqlite3.Connection, Mailbox]:
    db = connect(path)
    return db, Mailbox(db, clock, domain="academy.test", backoff_base=10)


@pytest.fixture
async def smtp() -> AsyncIterator[MailServer]:
    server = MailServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_each_reader_gets_their_own_language(tmp_path: Path, smtp: MailServer) -> None:
    clock = Ticks()
    db, box = _box(tmp_path / "db.sqlite3", clock)
    catalogues = load_catalogues()
    readers = [
        User(1, "aigerim", "Айгерім Сейіт", Role.TEACHER, language="kk", email="a@academy.test"),
        User(2, "ivan", "Иван Петров", Role.TEACHER, language="ru", email="i@academy.test"),
        User(3, "jo", "Jo Smith", Role.TEACHER, language=None, email="j@academy.test"),
    ]
    for u in readers:
        assert u.email is not None
        m = render(catalogues, language_of(u, "ru"), INVITE_SUBJECT, INVITE_BODY,
                   name=u.full_name, title="Алгебра", when="01.03.2027 10:00",
                   link="https://sabaq.test/invite/x")  # fmt: skip
        assert box.enqueue(f"test:{u.id}", u.email, m.language, m.subject, m.body)
    assert await deliver_once(box, _server(smtp), clock()) == 3
    by_to = {r.recipients[0]: r.message for r in smtp.inbox.received}
    assert set(by_to) == {"a@academy.test", "i@academy.test", "j@academy.test"}
    kk, ru = by_to["a@academy.test"], by_to["i@academy.test"]
    assert kk["Content-Language"] == "kk" and ru["Content-Language"] == "ru"
    for message, lang in ((kk, "kk"), (ru, "ru")):
        expected = catalogues[lang].gettext(INVITE_SUBJECT).replace("{title}", "Алгебра")
        assert expected != INVITE_SUBJECT.replace("{title}", "Алгебра")  # translated
        assert str(message["Subject"]) == expected
        body = message.get_body()
        assert body is not None
        assert "https://sabaq.test/invite/x" in body.get_content()
    assert str(by_to["j@academy.test"]["Subject"]) == catalogues["ru"].gettext(
        INVITE_SUBJECT
    ).replace("{title}", "Алгебра")  # no language chosen: the academy's default
    assert [m.state for m in box.recent()] == [MailState.SENT] * 3
    db.close()


async def test_attachments_arrive_intact_and_a_key_is_queued_once(
    tmp_path: Path, smtp: MailServer
) -> None:
    clock = Ticks()
    db, box = _box(tmp_path / "db.sqlite3", clock)
    content = bytes(range(256)) * 40 + b"PK\x03\x04 the end"
    files = [Attachment("посещаемость 2027-03.xlsx", XLSX, content),
             Attachment("notes.txt", "text/plain", "Сәлем\n".encode())]  # fmt: skip
    to = ["hr@agency.test", "chief@agency.test"]
    assert box.enqueue("hr:1:2027-03", to, "ru", "Табель", "Во вложении.", files)
    assert not box.enqueue("hr:1:2027-03", to, "ru", "Другое", "Другое")  # the same key: no-op
    assert await deliver_once(box, _server(smtp), clock()) == 1
    assert await deliver_once(box, _server(smtp), clock() + 3600) == 0  # nothing is due again
    (got,) = smtp.inbox.received
    assert sorted(got.recipients) == sorted(to)
    assert got.message["Message-ID"] == message_id("hr:1:2027-03", "academy.test")
    assert str(got.message["Subject"]) == "Табель"
    parts = list(got.message.iter_attachments())
    assert [p.get_filename() for p in parts] == [a.name for a in files]
    assert [p.get_content_type() for p in parts] == [XLSX, "text/plain"]
    assert parts[0].get_content() == content
    assert parts[1].get_payload(decode=True) == "Сәлем\n".encode()
    # Months later the files go; the row stays, and its key is still never queued again.
    assert box.forget_attachments(clock() - 1) == 0
    assert box.forget_attachments(clock() + 1) == 2
    assert not box.enqueue("hr:1:2027-03", to, "ru", "Табель", "Во вложении.", files)
    db.close()


async def test_no_duplicate_after_a_restart_in_the_middle_of_the_queue(
    tmp_path: Path, smtp: MailServer
) -> None:
    clock = Ticks()
    path = tmp_path / "db.sqlite3"
    db, box = _box(path, clock)
    for n in range(1, 4):
        box.enqueue(f"notice:{n}", f"user{n}@academy.test", "ru", f"Notice {n}", "…")
    smtp.inbox.hold_at = 1  # the first is accepted, then the server keeps the client waiting
    async with running(box, _server(smtp), every=0.05, clock=clock):
        await asyncio.wait_for(smtp.inbox.held.wait(), 10)
    db.close()  # the process stops here, the second message not through
    assert smtp.inbox.subjects() == ["Notice 1"]

    smtp.inbox.hold_at = None
    smtp.inbox.release.set()
    db, box = _box(path, clock)  # started again on the same database
    assert [m.key for m in box.due(clock())] == ["notice:2", "notice:3"]
    async with running(box, _server(smtp), every=0.05, clock=clock):
        for _ in range(200):
            if len(smtp.inbox.received) >= 3:
                break
            await asyncio.sleep(0.02)
    assert smtp.inbox.subjects() == ["Notice 1", "Notice 2", "Notice 3"]
    assert {m.state for m in box.recent()} == {MailState.SENT}
    db.close()


async def test_a_server_that_was_down_gets_the_message_later(tmp_path: Path) -> None:
    clock = Ticks()
    db, box = _box(tmp_path / "db.sqlite3", clock)
    smtp = MailServer()  # its port is chosen, nobody listens yet
    box.enqueue("guest-invite:1", "guest@uni.test", "kk", "Шақыру", "Сілтеме")
    assert await deliver_once(box, _server(smtp), clock()) == 0
    (mail,) = box.recent()
    assert mail.state is MailState.PENDING and mail.attempts == 1
    assert "cannot reach the mail server" in mail.last_error
    assert mail.next_attempt_at == clock() + 10
    clock.at += 5
    assert await deliver_once(box, _server(smtp), clock()) == 0  # not due yet: no attempt
    assert box.recent()[0].attempts == 1
    await smtp.start()
    try:
        clock.at += 5
        assert await deliver_once(box, _server(smtp), clock()) == 1
    finally:
        await smtp.stop()
    assert [r.recipients for r in smtp.inbox.received] == [["guest@uni.test"]]
    mail = box.recent()[0]
    assert mail.state is MailState.SENT and mail.attempts == 2
    db.close()


async def test_a_4xx_answer_is_retried_and_a_5xx_answer_given_up(
    tmp_path: Path, smtp: MailServer
) -> None:
    clock = Ticks()
    db, box = _box(tmp_path / "db.sqlite3", clock)
    smtp.inbox.refuse = {
        "gone@academy.test": "550 5.1.1 No such mailbox",
        "full@academy.test": "452 4.2.2 Mailbox full",
    }
    box.enqueue("a", "gone@academy.test", "ru", "A", "a")
    box.enqueue("b", "full@academy.test", "ru", "B", "b")
    box.enqueue("c", "ok@academy.test", "ru", "C", "c")
    assert box.waiting() == 3
    assert await deliver_once(box, _server(smtp), clock()) == 1
    assert box.waiting() == 1  # b, to be retried (/metrics' mail queue)
    states = {m.key: m for m in box.recent()}
    assert states["a"].state is MailState.FAILED
    assert "550" in states["a"].last_error and "No such mailbox" in states["a"].last_error
    assert states["b"].state is MailState.PENDING and "452" in states["b"].last_error
    assert states["c"].state is MailState.SENT
    del smtp.inbox.refuse["full@academy.test"]
    clock.at += 3600
    assert await deliver_once(box, _server(smtp), clock()) == 1  # b now; a never again
    assert smtp.inbox.subjects() == ["C", "B"]
    # Retries run out: a server that keeps answering 4xx is given up in the end.
    smtp.inbox.refuse["full@academy.test"] = "451 4.3.0 Try later"
    box.enqueue("d", "full@academy.test", "ru", "D", "d")
    for _ in range(MAX_ATTEMPTS):
        clock.at += 3600
        await deliver_once(box, _server(smtp), clock())
    assert box.get("d") is not None and box.get("d").state is MailState.FAILED  # type: ignore[union-attr]
    db.close()


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_over_tls_with_a_sign_in(tmp_path: Path, security: Security) -> None:
    """The settings for a server off this machine: the connection encrypted (STARTTLS, or TLS
    from the first byte), the certificate checked, the password sent only inside it."""
    clock = Ticks()
    db, box = _box(tmp_path / "db.sqlite3", clock)
    smtp = MailServer(certificate=self_signed(tmp_path), security=security,
                      login=("sabaq", "pw-Zq81"))  # fmt: skip
    await smtp.start()
    try:
        box.enqueue("tls:1", "reader@academy.test", "ru", "Тема", "Текст")
        server = SmtpServer(
            host="127.0.0.1", port=smtp.port, sender="sabaq@academy.test", security=security,
            user="sabaq", password="wrong", timeout=5, tls_context=smtp.client_context(),
        )  # fmt: skip
        assert await deliver_once(box, server, clock()) == 0  # a wrong password: kept
        assert box.recent()[0].state is MailState.PENDING
        assert "refused the sign-in" in box.recent()[0].last_error
        assert "535" in box.recent()[0].last_error
        clock.at += 3600
        untrusted = dataclasses.replace(server, password="pw-Zq81", tls_context=None)
        assert await deliver_once(box, untrusted, clock()) == 0  # an unknown certificate
        assert "cannot reach the mail server" in box.recent()[0].last_error
        clock.at += 3600
        good = dataclasses.replace(server, password="pw-Zq81")
        assert await deliver_once(box, good, clock()) == 1, box.recent()[0].last_error
    finally:
        await smtp.stop()
    assert smtp.signed_in == ["sabaq"] and smtp.inbox.subjects() == ["Тема"]
    db.close()


def test_bad_addresses_are_refused_and_nothing_is_queued_when_mail_is_off(
    tmp_path: Path,
) -> None:
    db = connect(tmp_path / "db.sqlite3")
    box = Mailbox(db, Ticks(), enabled=False)
    with pytest.raises(ValueError, match="not an e-mail address"):
        box.enqueue("x", "not an address", "ru", "S", "B")
    assert not box.enqueue("x", "a@b.test", "ru", "S", "B")
    assert box.recent() == []
    db.close()
