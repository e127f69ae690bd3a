"""Idempotency keys for the API's creating operations: the portal may retry a request with the
same ``Idempotency-Key`` and get the first answer back instead of a second class. The answers
are kept here; the HTTP side (reading the header, replaying the answer) is web/core/http.py's."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

KEEP = 24 * 3600.0  # how long an answer is remembered
MAX_KEY = 100

# Named from when this lived in web/: a database knows its applied migrations by name.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "web_0003_idempotency",
        """
        CREATE TABLE idempotency (
            caller TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (caller, key)
        );
        CREATE INDEX idempotency_at ON idempotency(at);
        """,
    ),
)


class KeyReused(Exception):
    """The same key came with a different request."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable()


class Idempotency:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def answer(self, caller: str, key: str, print_: str, now: float) -> Answer | None:
        """The remembered answer to this request, None if it is new; ``KeyReused`` if the
        key was used for another request."""
        row = self._db.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE caller = ? AND key = ?"
            " AND at > ?",
            (caller, key, now - KEEP),
        ).fetchone()
        if row is None:
            return None
        if row[0] != print_:
            raise KeyReused(key)
        return Answer(row[1], row[2])

    def remember(
        self, caller: str, key: str, print_: str, status: int, body: str, now: float
    ) -> None:
        with self._db:
            self._db.execute("DELETE FROM idempotency WHERE at <= ?", (now - KEEP,))
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (caller, key, print_, status, body, now),
            )
