"""Accounts and sessions in SQLite."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .addresses import optional_address
from .audit import Action, Actor, ObjectKind
from .errors import LoginTaken, UserNotFound
from .models import Role, User, check_agency
from .sqlite_audit import now_record, write

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "access_0001_users_sessions",
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            full_name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT,
            language TEXT,
            created_at REAL NOT NULL
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        """,
    ),
    (
        "access_0002_used_signin_links",
        """
        CREATE TABLE used_signin_links (
            jti TEXT PRIMARY KEY,
            expires_at REAL NOT NULL
        );
        """,
    ),
    (
        "access_0003_user_agency",
        """
        -- The law-enforcement body or state agency that sent the learner (for its HR service).
        ALTER TABLE users ADD COLUMN agency TEXT;
        """,
    ),
    (
        "access_0004_class_bound_sessions",
        """
        -- A session opened by a join link: it reaches that one class only.
        ALTER TABLE sessions ADD COLUMN class_id INTEGER;
        """,
    ),
    (
        "access_0005_people",
        """
        -- A teacher's or head's department (the scheduler's), a deactivation (the account
        -- stays for its history), and when the password last changed (older set links die).
        ALTER TABLE users ADD COLUMN department_id INTEGER;
        ALTER TABLE users ADD COLUMN deactivated_at REAL;
        ALTER TABLE users ADD COLUMN password_changed_at REAL;
        CREATE INDEX users_full_name ON users(full_name);
        """,
    ),
    (
        "access_0006_user_email",
        """
        -- An optional address for notices and links (checked by access.addresses).
        ALTER TABLE users ADD COLUMN email TEXT;
        """,
    ),
)

SESSION_TTL = 12 * 3600.0


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    expires_at: float
    class_id: int | None = None  # opened by a join link: this class only


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        login=row["login"],
        full_name=row["full_name"],
        role=Role(row["role"]),
        language=row["language"],
        agency=row["agency"],
        department_id=row["department_id"],
        active=row["deactivated_at"] is None,
        email=row["email"],
    )


def account_fields(u: User) -> dict[str, object]:
    """An account as the audit trail sees it (never a password or its hash)."""
    return {
        "login": u.login,
        "full_name": u.full_name,
        "role": u.role.value,
        "department_id": u.department_id,
        "agency": u.agency,
        "language": u.language,
        "email": u.email,
        "active": u.active,
    }


class SqliteAccounts:
    """Users and their sign-in sessions. Session tokens are stored only as SHA-256 hashes."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def create_user(
        self,
        *,
        login: str,
        full_name: str,
        role: Role,
        password_hash: str | None = None,
        language: str | None = None,
        agency: str | None = None,
        department_id: int | None = None,
        email: str | None = None,
        actor: Actor | None = None,
    ) -> User:
        """A new account; with ``actor`` (every administrative path gives one; a seed need
        not), its record in the audit trail is written in the same transaction."""
        User(id=0, login=login, full_name=full_name, role=role, agency=agency)  # validates
        email = optional_address(email)
        try:
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO users (login, full_name, role, password_hash, language,"
                    " agency, department_id, email, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        login,
                        full_name.strip(),
                        role.value,
                        password_hash,
                        language,
                        agency.strip() if agency and agency.strip() else None,
                        department_id,
                        email,
                        self._clock(),
                    ),
                )
                assert cur.lastrowid is not None
                if actor is not None:
                    made = _user(self._db.execute(
                        "SELECT * FROM users WHERE id = ?", (cur.lastrowid,)
                    ).fetchone())  # fmt: skip
                    after = {k: v for k, v in account_fields(made).items() if v is not None}
                    write(self._db, now_record(
                        self._clock, actor, Action.CREATED, ObjectKind.ACCOUNT, made.id,
                        after=after, label=made.login,
                    ))  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise LoginTaken(f"The login {login!r} is taken") from exc
        return self.get(cur.lastrowid)

    def many(self, user_ids: Iterable[int]) -> dict[int, User]:
        """The users with these ids (for reports over hundreds of people: one query)."""
        ids = list(dict.fromkeys(user_ids))
        out: dict[int, User] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._db.execute(
                f"SELECT * FROM users WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            )
            out.update((r["id"], _user(r)) for r in rows)
        return out

    def learners_with_agency(self) -> list[User]:
        rows = self._db.execute(
            "SELECT * FROM users WHERE agency IS NOT NULL ORDER BY agency, full_name"
        )
        return [_user(r) for r in rows]

    def get(self, user_id: int) -> User:
        row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(f"No user with id {user_id}")
        return _user(row)

    def by_login(self, login: str) -> tuple[User, str | None]:
        """The user and their password hash (None when they have no password)."""
        row = self._db.execute("SELECT * FROM users WHERE login = ?", (login,)).fetchone()
        if row is None:
            raise UserNotFound(f"No user with login {login!r}")
        return _user(row), row["password_hash"]

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """A rehash of the same password (on sign-in): nothing else changes."""
        with self._db:
            self._db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )

    def change_password(
        self,
        user_id: int,
        password_hash: str,
        keep_session: str = "",
        *,
        actor: Actor | None = None,
        action: Action = Action.PASSWORD_CHANGED,
    ) -> None:
        """A new password: every session of the person ends but ``keep_session`` (the one that
        changed it, if any), and set-password links issued before now stop working. With
        ``actor``, recorded (that it changed and how many sessions ended; never the password
        nor its hash)."""
        with self._db:
            self._db.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                (password_hash, self._clock(), user_id),
            )
            ended = self._db.execute(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
                (user_id, _hash_token(keep_session) if keep_session else ""),
            ).rowcount
            if actor is not None:
                login = self._db.execute("SELECT login FROM users WHERE id = ?", (user_id,))
                write(self._db, now_record(
                    self._clock, actor, action, ObjectKind.ACCOUNT, user_id,
                    after={"sessions_ended": ended}, label=(login.fetchone() or [""])[0],
                ))  # fmt: skip

    def password_changed_at(self, user_id: int) -> float | None:
        row = self._db.execute(
            "SELECT password_changed_at FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return None if row is None else row[0]

    def set_agency(self, user_id: int, agency: str | None) -> None:
        agency = agency.strip() if agency and agency.strip() else None
        check_agency(agency)
        with self._db:
            self._db.execute("UPDATE users SET agency = ? WHERE id = ?", (agency, user_id))

    def set_email(self, user_id: int, email: str | None) -> None:
        """One's own address (blank: none); ``ValueError`` if it is not an address."""
        with self._db:
            self._db.execute(
                "UPDATE users SET email = ? WHERE id = ?", (optional_address(email), user_id)
            )

    def set_language(self, user_id: int, language: str) -> None:
        with self._db:
            self._db.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))

    def count_by_role(self, role: Role) -> int:
        row = self._db.execute("SELECT count(*) FROM users WHERE role = ?", (role.value,))
        return int(row.fetchone()[0])

    def use_signin_link(self, jti: str, expires_at: float) -> bool:
        """Mark a sign-in link used; False when it was used before (links work once)."""
        with self._db:
            self._db.execute("DELETE FROM used_signin_links WHERE expires_at < ?", (self._clock(),))
            cur = self._db.execute(
                "INSERT OR IGNORE INTO used_signin_links (jti, expires_at) VALUES (?, ?)",
                (jti, expires_at),
            )
        return cur.rowcount == 1

    # -- sessions -----------------------------------------------------------------------------
    def open_session(
        self, user_id: int, ttl: float = SESSION_TTL, class_id: int | None = None
    ) -> tuple[str, Session]:
        """Start a session (for one class only, with ``class_id``); returns the cookie token
        (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._db:
            self._db.execute(
                "DELETE FROM sessions WHERE expires_at < ?", (now,)
            )  # keep the table small
            self._db.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, class_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (_hash_token(token), user_id, now, now + ttl, class_id),
            )
        return token, Session(user=self.get(user_id), expires_at=now + ttl, class_id=class_id)

    def session(self, token: str) -> Session | None:
        if not token or len(token) > 256 or not token.isascii():
            return None
        row = self._db.execute(
            "SELECT s.expires_at, s.class_id AS session_class_id, u.* FROM sessions s JOIN users u"
            " ON u.id = s.user_id WHERE s.token_hash = ? AND u.deactivated_at IS NULL",
            (_hash_token(token),),
        ).fetchone()
        if row is None or row["expires_at"] < self._clock():
            return None
        return Session(
            user=_user(row), expires_at=row["expires_at"], class_id=row["session_class_id"]
        )

    def close_session(self, token: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash_token(token),))

    def end_sessions(self, user_id: int, keep: str = "") -> int:
        """End every session of the person but ``keep`` (a cookie token); how many ended."""
        with self._db:
            cur = self._db.execute(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
                (user_id, _hash_token(keep) if keep else ""),
            )
        return cur.rowcount
