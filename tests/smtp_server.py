"""A real SMTP server for the tests: aiosmtpd on a loopback port, in the test's event loop,
keeping every message it accepted; it can refuse chosen recipients with a chosen answer, and
speak TLS (STARTTLS, or from the first byte) with a self-signed certificate and ask for a
sign-in."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def self_signed(folder: Path) -> Path:
    """A certificate (with its key, in one PEM file) for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = folder / "smtp.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


class MailServer:
    """``await start()`` listens on ``port`` (free, loopback); ``await stop()`` closes. With
    ``certificate`` it speaks TLS (``security``), and with ``login`` it asks for that sign-in."""

    def __init__(
        self, port: int | None = None, *, certificate: Path | None = None,
        security: Literal["starttls", "tls", "none"] = "none",
        login: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.port = port or free_port()
        self.inbox = Inbox()
        self.certificate = certificate
        self.security = security
        self.login = login
        self.signed_in: list[str] = []
        self._server: asyncio.Server | None = None

    def client_context(self) -> ssl.SSLContext:
        """What a client trusts to reach this server."""
        assert self.certificate is not None
        return ssl.create_default_context(cafile=str(self.certificate))

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        if ok:
            self.signed_in.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # refused: aiosmtpd answers 535

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        context = None
        if self.certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certificate)

        def factory() -> Any:
            return SMTP(
                self.inbox, hostname="mail.test", loop=loop,
                tls_context=context if self.security == "starttls" else None,
                require_starttls=self.security == "starttls",
                authenticator=self._authenticate if self.login else None,
                # aiosmtpd counts only STARTTLS as TLS: over TLS from the first byte it would hide
                # AUTH (and warns when AUTH is required without it), so there AUTH is offered,
                # not required; the client signs in all the same.
                auth_required=self.login is not None and self.security != "tls",
                auth_require_tls=self.security == "starttls",
            )  # fmt: skip

        self._server = await loop.create_server(
            factory, "127.0.0.1", self.port, ssl=context if self.security == "tls" else None
        )

    async def stop(self) -> None:
        self.inbox.release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
