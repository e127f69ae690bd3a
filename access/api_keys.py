"""API keys for the academy's portal: scoped, shown once, stored as SHA-256 hashes, revocable."""

from __future__ import annotations

import enum
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from .audit import Action, Actor, ObjectKind
from .errors import AccessError
from .sqlite_audit import now_record, write

PREFIX = "sbq_"
MAX_NAME = 100

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "access_0004_api_keys",
        """
        CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            hint TEXT NOT NULL,  -- the key's first characters, to tell keys apart
            key_hash TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL,  -- space-separated
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at REAL NOT NULL,
            revoked_at REAL,
            revoked_by INTEGER REFERENCES users(id),
            last_used_at REAL
        );
        """,
    ),
)


class Scope(enum.StrEnum):
    READ = "read"  # groups, classes, timetables, guarantee alerts
    SCHEDULE = "schedule"  # plan, move, cancel classes
    JOIN = "join"  # mint join links for the portal's users
    REPORTS = "reports"  # attendance reports
    PEOPLE = "people"  # accounts: list, make, change, deactivate (never an administrator's)
    AUDIT = "audit"  # the audit trail of administrative changes: read only


class ApiKeyInvalid(AccessError):
    code = "api_key_invalid"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    hint: str
    scopes: frozenset[Scope]
    created_by: int
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    maker_active: bool = True  # the account that made it is not deactivated (else refused)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


# A key with whether the account that made it is deactivated (its keys are refused then).
_SELECT = (
    "SELECT k.*, u.deactivated_at AS maker_deactivated_at FROM api_keys k"
    " LEFT JOIN users u ON u.id = k.created_by"
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        hint=row["hint"],
        scopes=frozenset(Scope(s) for s in row["scopes"].split()),
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        maker_active=row["maker_deactivated_at"] is None,
    )


class SqliteApiKeys:
    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def create(
        self, name: str, scopes: frozenset[Scope], by_id: int, actor: Actor | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns it and its secret, which is shown once and never again. Recorded
        in the audit trail in the same transaction (its name and scopes, never the secret nor
        its hash), by ``actor`` or else the person ``by_id``."""
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise ValueError(f"A key needs a name of at most {MAX_NAME} characters")
        if not scopes:
            raise ValueError("A key needs at least one scope")
        secret = PREFIX + secrets.token_urlsafe(32)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO api_keys (name, hint, key_hash, scopes, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    secret[: len(PREFIX) + 6],
                    _hash(secret),
                    " ".join(sorted(s.value for s in scopes)),
                    by_id,
                    self._clock(),
                ),
            )
            assert cur.lastrowid is not None
            after = {"name": name, "scopes": sorted(s.value for s in scopes)}
            write(self._db, now_record(
                self._clock, actor or Actor.user(by_id), Action.CREATED, ObjectKind.API_KEY,
                cur.lastrowid, after=after, label=name,
            ))  # fmt: skip
        return self.get(cur.lastrowid), secret

    def get(self, key_id: int) -> ApiKey:
        row = self._db.execute(f"{_SELECT} WHERE k.id = ?", (key_id,)).fetchone()
        if row is None:
            raise ApiKeyInvalid(f"No API key with id {key_id}")
        return _key(row)

    def verify(self, secret: str) -> ApiKey:
        """The active key with this secret (its use noted), or ``ApiKeyInvalid``. A key speaks
        for the account that made it: once that account is deactivated, its keys are refused
        too (reactivated, they work again; a key to keep is made anew by someone who stays)."""
        if not secret.startswith(PREFIX) or len(secret) > 200 or not secret.isascii():
            raise ApiKeyInvalid("Not a Sabaq API key")
        row = self._db.execute(f"{_SELECT} WHERE k.key_hash = ?", (_hash(secret),)).fetchone()
        if row is None or row["revoked_at"] is not None:
            raise ApiKeyInvalid("The API key is unknown or revoked")
        if row["maker_deactivated_at"] is not None:
            raise ApiKeyInvalid("The account that made this API key is deactivated")
        now = self._clock()
        if row["last_used_at"] is None or now - row["last_used_at"] > 60:
            with self._db:  # noted at most once a minute: not a write per call
                self._db.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row["id"])
                )
        return _key(row)

    def revoke(self, key_id: int, by_id: int, actor: Actor | None = None) -> ApiKey:
        """Revoke the key (recorded, by ``actor`` or else the person ``by_id``, in the same
        transaction); a key revoked already stays as it was."""
        with self._db:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?"
                " AND revoked_at IS NULL",
                (self._clock(), by_id, key_id),
            )
            if cur.rowcount == 1:
                name = self._db.execute("SELECT name FROM api_keys WHERE id = ?", (key_id,))
                write(self._db, now_record(
                    self._clock, actor or Actor.user(by_id), Action.REVOKED, ObjectKind.API_KEY,
                    key_id, {"revoked": False}, {"revoked": True}, name.fetchone()[0],
                ))  # fmt: skip
        return self.get(key_id)

    def listed(self) -> list[ApiKey]:
        rows = self._db.execute(f"{_SELECT} ORDER BY k.revoked_at IS NOT NULL, k.id DESC")
        return [_key(r) for r in rows.fetchall()]
