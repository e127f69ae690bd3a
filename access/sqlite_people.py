"""People in SQLite: the accounts as staff manage them — found a page at a time, edited,
deactivated (every session ending at once) and reactivated, and made many at once by an
import (all or none)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from .addresses import optional_address
from .audit import Action, Actor, ObjectKind, account_action, changed
from .errors import LoginTaken, UserNotFound
from .models import LOGIN_RE, Role, User
from .sqlite_audit import now_record, write
from .sqlite_search import contains, like, searchable
from .sqlite_store import _user, account_fields


@dataclass(frozen=True, slots=True)
class PeopleQuery:
    """Which accounts: a search in login and name, a role, and the departments they are in
    (None: any department, or none)."""

    search: str = ""
    role: Role | None = None
    roles: frozenset[Role] = frozenset(Role)
    departments: frozenset[int] | None = None
    active: bool | None = None  # None: both


@dataclass(frozen=True, slots=True)
class NewPerson:
    login: str
    full_name: str
    role: Role
    department_id: int | None = None
    email: str | None = None


class SqlitePeople:
    """The people pages' store (the accounts' table is ``SqliteAccounts``')."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        searchable(db)

    def _where(self, q: PeopleQuery) -> tuple[str, list[object]]:
        roles = [r.value for r in (q.roles if q.role is None else q.roles & {q.role})]
        clauses = [f"role IN ({','.join('?' * len(roles))})" if roles else "0"]
        args: list[object] = [*roles]
        if q.departments is not None:
            deps = sorted(q.departments)
            clauses.append(f"department_id IN ({','.join('?' * len(deps))})" if deps else "0")
            args += deps
        if q.search.strip():
            clauses.append(contains("login", "full_name"))
            args += [like(q.search)] * 2
        if q.active is not None:
            clauses.append("deactivated_at IS NULL" if q.active else "deactivated_at IS NOT NULL")
        return " AND ".join(clauses), args

    def find(self, q: PeopleQuery, limit: int, offset: int) -> tuple[list[User], int]:
        """A page of the accounts ``q`` names, by name, and how many there are in all."""
        where, args = self._where(q)
        total = self._db.execute(f"SELECT count(*) FROM users WHERE {where}", args).fetchone()[0]  # noqa: S608
        rows = self._db.execute(
            f"SELECT * FROM users WHERE {where} ORDER BY full_name, id LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        )
        return [_user(r) for r in rows], int(total)

    def update(
        self,
        user_id: int,
        *,
        full_name: str,
        role: Role,
        department_id: int | None,
        email: str | None = None,
        actor: Actor | None = None,
    ) -> User:
        """A new name, role or department; ``email`` None leaves the address as it is, blank
        removes it (``ValueError`` if it is not an address). With ``actor``, the changed fields
        are recorded in the same transaction (nothing changed: nothing recorded)."""
        User(id=user_id, login="xx", full_name=full_name, role=role)  # validates
        keep = email is None
        address = None if keep else optional_address(email)
        with self._db:
            before = self._row(user_id)
            cur = self._db.execute(
                "UPDATE users SET full_name = ?, role = ?, department_id = ?,"
                " email = CASE WHEN ? THEN email ELSE ? END WHERE id = ?",
                (full_name.strip(), role.value, department_id, keep, address, user_id),
            )
            if cur.rowcount == 1 and actor is not None:
                self._record(actor, before, self._row(user_id))
        if cur.rowcount != 1:
            raise UserNotFound(f"No user with id {user_id}")
        return self.get(user_id)

    def _row(self, user_id: int) -> User | None:
        row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    def _record(
        self, actor: Actor, before: User | None, after: User | None, action: Action | None = None
    ) -> None:
        """The change of one account, in the caller's transaction; none if nothing changed."""
        if before is None or after is None:
            return
        old, new = changed(account_fields(before), account_fields(after))
        if not new:
            return
        write(self._db, now_record(
            self._clock, actor, action or account_action(new), ObjectKind.ACCOUNT, after.id,
            old, new, after.login,
        ))  # fmt: skip

    def get(self, user_id: int) -> User:
        row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(f"No user with id {user_id}")
        return _user(row)

    def deactivate(self, user_id: int, actor: Actor | None = None) -> User:
        """The account can no longer sign in, and every session of it ends now; everything it
        did stays. With ``actor``, recorded (when it was active)."""
        with self._db:
            before = self._row(user_id)
            self._db.execute(
                "UPDATE users SET deactivated_at = coalesce(deactivated_at, ?) WHERE id = ?",
                (self._clock(), user_id),
            )
            self._db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            if actor is not None:
                self._record(actor, before, self._row(user_id), Action.DEACTIVATED)
        return self.get(user_id)

    def reactivate(self, user_id: int, actor: Actor | None = None) -> User:
        with self._db:
            before = self._row(user_id)
            self._db.execute("UPDATE users SET deactivated_at = NULL WHERE id = ?", (user_id,))
            if actor is not None:
                self._record(actor, before, self._row(user_id), Action.REACTIVATED)
        return self.get(user_id)

    def taken(self, logins: Collection[str]) -> set[str]:
        """Which of ``logins`` are accounts already."""
        out: set[str] = set()
        items = list(logins)
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            rows = self._db.execute(
                f"SELECT login FROM users WHERE login IN ({','.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            )
            out.update(r[0] for r in rows)
        return out

    def create_many(self, people: Sequence[NewPerson], actor: Actor | None = None) -> list[int]:
        """Every account of ``people`` in one transaction, or (a login taken) none; with
        ``actor``, one record of the import with its counts (by role) in the same one."""
        now, ids = self._clock(), []
        for p in people:
            if not LOGIN_RE.match(p.login):
                raise ValueError(f"Login {p.login!r} is not valid")
            optional_address(p.email)
        try:
            with self._db:
                for p in people:
                    cur = self._db.execute(
                        "INSERT INTO users (login, full_name, role, department_id, email,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            p.login,
                            p.full_name.strip(),
                            p.role.value,
                            p.department_id,
                            optional_address(p.email),
                            now,
                        ),
                    )
                    assert cur.lastrowid is not None
                    ids.append(cur.lastrowid)
                if actor is not None and ids:
                    counts: dict[str, int] = {}
                    for p in people:
                        counts[p.role.value] = counts.get(p.role.value, 0) + 1
                    after = {"count": len(ids), "roles": dict(sorted(counts.items())),
                             "first_id": min(ids), "last_id": max(ids)}  # fmt: skip
                    write(self._db, now_record(
                        self._clock, actor, Action.IMPORTED, ObjectKind.ACCOUNT, None,
                        after=after, label=f"{len(ids)}",
                    ))  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise LoginTaken("A login of the import is taken") from exc
        return ids
