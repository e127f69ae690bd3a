"""The e-mail outbox: messages Sabaq sends (notices, a guest's invite, the HR services' monthly
mail), kept in SQLite until the mail server has accepted them.

A message is queued under a key its caller chooses (``notice:42``, ``guest-invite:7:…``): the key
is unique, so queuing the same key again does nothing and a notice is never queued twice. Its
Message-ID is derived from the key, so a mail client recognises a repeat too. Subject and body
come already written in the recipient's language (``control.words`` renders them from the
catalogues); attachments (a name, a MIME type, the bytes) are kept with the row.

The deliverer (``control.mail_delivery``) sends the due rows and records each outcome here at
once: sent (the server accepted it: never sent again, also after a restart), deferred (the
server is away or answered 4xx: tried again later, waiting longer each time), or failed (the
server answered 5xx, or the retries ran out: given up, shown to staff with the error).

With no mail server configured the outbox is off: nothing is queued (``enqueue`` returns False),
so switching mail on later does not send a backlog of stale notices."""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from access.addresses import is_address

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "control_0001_mail_outbox",
        """
        CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,  -- the caller's: the same key is never queued twice
            recipients TEXT NOT NULL,  -- a JSON list of addresses
            language TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            message_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            sent_at REAL,
            failed_at REAL,
            last_error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at)
            WHERE sent_at IS NULL AND failed_at IS NULL;
        CREATE TABLE mail_attachments (
            id INTEGER PRIMARY KEY,
            mail_id INTEGER NOT NULL REFERENCES mail_outbox(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            content BLOB NOT NULL
        );
        CREATE INDEX mail_attachments_mail ON mail_attachments(mail_id);
        -- How far a follower has mailed what it follows (the notices: "notices").
        CREATE TABLE mail_cursors (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        """,
    ),
)

MAX_KEY = 200
MAX_SUBJECT = 500
MAX_RECIPIENTS = 20
MAX_ATTEMPTS = 20  # with the doubling wait, about a day of retries, then given up
MAX_BACKOFF = 3600.0
# The files of a message sent or given up this long ago are dropped (an XLSX a month adds up);
# the message's row stays, so its key is still never queued again.
KEEP_ATTACHMENTS = 90 * 86400.0
PRUNE_EVERY = 3600.0


class MailState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    mime_type: str  # "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    content: bytes

    def __post_init__(self) -> None:
        main, _, sub = self.mime_type.partition("/")
        if not self.name.strip() or not main or not sub:
            raise ValueError(f"Attachment {self.name!r} needs a name and a type/subtype")


@dataclass(frozen=True, slots=True)
class Mail:
    """A queued message and where it stands."""

    id: int
    key: str
    recipients: tuple[str, ...]
    language: str
    subject: str
    body: str
    message_id: str
    created_at: float
    attempts: int
    next_attempt_at: float
    sent_at: float | None
    failed_at: float | None
    last_error: str
    attachments: tuple[Attachment, ...] = ()

    @property
    def state(self) -> MailState:
        if self.sent_at is not None:
            return MailState.SENT
        return MailState.FAILED if self.failed_at is not None else MailState.PENDING


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the message queued under ``key``: the same for every attempt."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


class Mailbox:
    """The outbox in SQLite. ``enabled`` is False when no mail server is configured;
    ``backoff_base`` is the first wait after a failed attempt (doubling after each)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        *,
        enabled: bool = True,
        domain: str = "sabaq.invalid",
        backoff_base: float = 30.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self.enabled = enabled
        self._domain = domain
        self._backoff_base = backoff_base

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones."""
        return float(min(MAX_BACKOFF, self._backoff_base * 2 ** max(0, attempts - 1)))

    # -- queuing --------------------------------------------------------------------------------
    def enqueue(
        self,
        key: str,
        to: str | Sequence[str],
        language: str,
        subject: str,
        body: str,
        attachments: Sequence[Attachment] = (),
    ) -> bool:
        """Queue a message under ``key``; False when the outbox is off or the key is queued
        already (nothing changes then). ``ValueError`` for a bad address or key."""
        recipients = (to,) if isinstance(to, str) else tuple(to)
        recipients = tuple(dict.fromkeys(r.strip() for r in recipients if r.strip()))
        if not recipients or len(recipients) > MAX_RECIPIENTS:
            raise ValueError(f"A message goes to 1 to {MAX_RECIPIENTS} addresses")
        for address in recipients:
            if not is_address(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"A message's key has 1 to {MAX_KEY} characters")
        if not self.enabled:
            return False
        now = self._clock()
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO mail_outbox (key, recipients, language, subject, body,"
                " message_id, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    json.dumps(recipients),
                    language,
                    " ".join(subject.split())[:MAX_SUBJECT],  # one line, as headers are
                    body,
                    message_id(key, self._domain),
                    now,
                    now,
                ),
            )
            if cur.rowcount != 1:
                return False
            self._db.executemany(
                "INSERT INTO mail_attachments (mail_id, name, mime_type, content)"
                " VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, a.name, a.mime_type, a.content) for a in attachments],
            )
        return True

    # -- delivering -----------------------------------------------------------------------------
    def waiting(self) -> int:
        """Messages not yet accepted by the server nor given up on (due now or retried later)."""
        row = self._db.execute(
            "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()
        return int(row[0])

    def due(self, now: float, limit: int = 50) -> list[Mail]:
        """Messages to try now, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
            " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [self._mail(r, with_attachments=True) for r in rows]

    def sent(self, mail_id: int, now: float, note: str = "") -> None:
        """The server accepted it (``note``: recipients it refused, if some were)."""
        with self._db:
            self._db.execute(
                "UPDATE mail_outbox SET sent_at = ?, attempts = attempts + 1, last_error = ?"
                " WHERE id = ?",
                (now, note[:500], mail_id),
            )

    def deferred(self, mail_id: int, now: float, error: str) -> None:
        """Not accepted for now (server away, 4xx): tried again later, or given up after
        ``MAX_ATTEMPTS``."""
        with self._db:
            row = self._db.execute(
                "SELECT attempts FROM mail_outbox WHERE id = ?", (mail_id,)
            ).fetchone()
            if row is None:
                return
            attempts = row[0] + 1
            self._db.execute(
                "UPDATE mail_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?,"
                " failed_at = ? WHERE id = ?",
                (
                    attempts,
                    now + self.backoff(attempts),
                    error[:500],
                    now if attempts >= MAX_ATTEMPTS else None,
                    mail_id,
                ),
            )

    def failed(self, mail_id: int, now: float, error: str) -> None:
        """Refused for good (5xx): never tried again."""
        with self._db:
            self._db.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, failed_at = ?, last_error = ?"
                " WHERE id = ?",
                (now, error[:500], mail_id),
            )

    def forget_attachments(self, before: float) -> int:
        """Drop the attachments of messages sent or given up before ``before``; how many."""
        with self._db:
            cur = self._db.execute(
                "DELETE FROM mail_attachments WHERE mail_id IN (SELECT id FROM mail_outbox"
                " WHERE sent_at < ?1 OR failed_at < ?1)",
                (before,),
            )
        return cur.rowcount

    # -- followers' cursors ---------------------------------------------------------------------
    def cursor(self, name: str) -> int:
        """How far the follower ``name`` has got (0 at first)."""
        row = self._db.execute(
            "SELECT position FROM mail_cursors WHERE name = ?", (name,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def move_cursor(self, name: str, position: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO mail_cursors (name, position) VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET position = MAX(position, excluded.position)",
                (name, position),
            )

    # -- reading --------------------------------------------------------------------------------
    def get(self, key: str) -> Mail | None:
        row = self._db.execute("SELECT * FROM mail_outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._mail(row)

    def with_prefix(self, prefix: str) -> list[Mail]:
        """The messages whose key starts with ``prefix``, newest first."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(
            "SELECT * FROM mail_outbox WHERE key LIKE ? ESCAPE '\\' ORDER BY id DESC",
            (escaped + "%",),
        ).fetchall()
        return [self._mail(r) for r in rows if r["key"].startswith(prefix)]

    def recent(self, limit: int = 200, state: MailState | None = None) -> list[Mail]:
        """The newest messages (of one state), for staff."""
        where = {
            None: "1",
            MailState.SENT: "sent_at IS NOT NULL",
            MailState.FAILED: "failed_at IS NOT NULL",
            MailState.PENDING: "sent_at IS NULL AND failed_at IS NULL",
        }[state]
        rows = self._db.execute(
            f"SELECT * FROM mail_outbox WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (limit,),
        ).fetchall()
        return [self._mail(r) for r in rows]

    def _mail(self, r: sqlite3.Row, with_attachments: bool = False) -> Mail:
        attachments: tuple[Attachment, ...] = ()
        if with_attachments:
            attachments = tuple(
                Attachment(a["name"], a["mime_type"], bytes(a["content"]))
                for a in self._db.execute(
                    "SELECT * FROM mail_attachments WHERE mail_id = ? ORDER BY id", (r["id"],)
                )
            )
        return Mail(
            id=r["id"], key=r["key"], recipients=tuple(json.loads(r["recipients"])),
            language=r["language"], subject=r["subject"], body=r["body"],
            message_id=r["message_id"], created_at=r["created_at"], attempts=r["attempts"],
            next_attempt_at=r["next_attempt_at"], sent_at=r["sent_at"], failed_at=r["failed_at"],
            last_error=r["last_error"], attachments=attachments,
        )  # fmt: skip
