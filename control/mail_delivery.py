"""Delivering the e-mail outbox over SMTP (aiosmtplib): the due messages of a pass go through
one connection; each is marked sent as soon as the server has accepted it (nothing is awaited
between the server's answer and the commit), so a restart resumes with the unsent ones only. A
server that cannot be reached, or answers 4xx, leaves the message for a later pass (waiting
longer each time); a 5xx answer gives it up, with the server's words kept for staff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

import aiosmtplib

from .mail import KEEP_ATTACHMENTS, PRUNE_EVERY, Mail, Mailbox
from .tasks import running as task_running

log = logging.getLogger("sabaq.control.mail_delivery")

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[Security, ...] = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes: the server, how the connection is secured, the sign-in (if any) and
    the sender's address."""

    host: str
    port: int
    sender: str
    security: Security = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def compose(mail: Mail, sender: str) -> EmailMessage:
    """The message as it goes out: plain text, its attachments, the key's Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(mail.recipients)
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(datetime.fromtimestamp(mail.created_at, UTC))
    msg["Auto-Submitted"] = "auto-generated"  # no vacation replies to a robot
    msg.set_content(mail.body)
    for a in mail.attachments:
        main, _, sub = a.mime_type.partition("/")
        msg.add_attachment(a.content, maintype=main, subtype=sub, filename=a.name)
    msg["Content-Language"] = mail.language  # last: setting the content drops Content-* headers
    return msg


def _client(server: SmtpServer) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        username=server.user or None,
        password=server.password or None,
        use_tls=server.security == "tls",
        start_tls=server.security == "starttls",
        timeout=server.timeout,
        tls_context=server.tls_context,
    )


def _words(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


async def deliver_once(
    box: Mailbox, server: SmtpServer, now: float, stop: asyncio.Event | None = None
) -> int:
    """Send what is due now, until ``stop`` is set; returns how many the server accepted."""
    # The outbox's reads and writes run on worker threads: in ``sabaq serve`` the loop carries
    # the media too (a thread's write is done even if this is cancelled meanwhile).
    due = await asyncio.to_thread(box.due, now)
    if not due:
        return 0
    client = _client(server)
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        error = (
            f"the mail server refused the sign-in (SABAQ_SMTP_USER/PASSWORD): {_words(exc)}"
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError)
            else f"cannot reach the mail server: {_words(exc)}"
        )
        log.info("mail: %s; %d messages wait", error, len(due))
        for mail in due:
            await asyncio.to_thread(box.deferred, mail.id, now, error)
        client.close()
        return 0
    accepted = 0
    try:
        for mail in due:
            if stop is not None and stop.is_set():
                break
            try:
                refused, _answer = await client.send_message(
                    compose(mail, server.sender), sender=server.sender,
                    recipients=list(mail.recipients),
                )  # fmt: skip
            except aiosmtplib.SMTPRecipientsRefused as exc:
                permanent = all(r.code >= 500 for r in exc.recipients)
                await asyncio.to_thread(
                    box.failed if permanent else box.deferred, mail.id, now, _words(exc)
                )
                continue
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    await asyncio.to_thread(box.failed, mail.id, now, _words(exc))
                    continue
                await asyncio.to_thread(box.deferred, mail.id, now, _words(exc))
                if exc.code == 421:  # the server is closing the connection
                    break
                continue
            except aiosmtplib.SMTPNotSupported as exc:  # an address in Unicode (SMTPUTF8)
                # the server never will: not retried
                await asyncio.to_thread(box.failed, mail.id, now, _words(exc))
                continue
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await asyncio.to_thread(box.deferred, mail.id, now, _words(exc))
                break  # the connection is gone: the rest wait for the next pass
            except ValueError as exc:  # a message that cannot be written out: never will be
                await asyncio.to_thread(box.failed, mail.id, now, f"cannot be sent: {exc}")
                continue
            # Accepted: recorded at once, before anything else is sent.
            note = "; ".join(f"{r}: {a.code} {a.message}" for r, a in refused.items())
            await asyncio.to_thread(box.sent, mail.id, now, note)
            accepted += 1
    except BaseException:
        client.close()  # cancelled (the application stops): no goodbye awaited
        raise
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        if client.is_connected:
            await client.quit()
    client.close()
    return accepted


@contextlib.asynccontextmanager
async def running(
    box: Mailbox, server: SmtpServer, every: float, clock: Callable[[], float]
) -> AsyncIterator[None]:
    """The deliverer, while the application runs: a pass every ``every`` seconds."""
    # Stopping is said twice: Python 3.11's wait_for (inside aiosmtplib) may swallow a
    # cancellation that lands as the server answers, so the loop also looks at ``stop``.
    stop = asyncio.Event()

    async def loop() -> None:
        pruned = 0.0
        while not stop.is_set():
            try:
                await deliver_once(box, server, clock(), stop)
                if clock() - pruned > PRUNE_EVERY:
                    pruned = clock()
                    await asyncio.to_thread(box.forget_attachments, pruned - KEEP_ATTACHMENTS)
            except Exception:
                log.exception("mail delivery failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async with task_running("mail", loop()):
        try:
            yield
        finally:
            stop.set()
