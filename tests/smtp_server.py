"""A real SMTP server for the tests: aiosmtpd on a loopback port, in the test's event loop,
keeping every message it accepted; it can refuse chosen recipients with a chosen answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """What the server accepted, and how it answers."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → the answer, "550 …"
    # When this many were accepted, the next message's MAIL FROM is not answered until
    # ``release`` is set (``held`` is set then): the client waits in the middle of the queue.
    hold_at: int | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        if self.hold_at is not None and len(self.received) == self.hold_at:
            self.held.set()
            await self.release.wait()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:  # fmt: skip
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [str(r.message["Subject"]) for r in self.received]


class MailServer:
    """``await start()`` listens on ``port`` (free, loopback); ``await stop()`` closes."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def factory() -> Any:
            return SMTP(self.inbox, hostname="mail.test", loop=loop)

        self._server = await loop.create_server(factory, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.inbox.release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
