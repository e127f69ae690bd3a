"""What the pages that manage groups read and write beyond ``SqliteTimetable``: the academy's
structure as lists, member counts, accounts by role and login, and a members' import that is
written in one transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from access.audit import Action, Actor, ObjectKind
from access.errors import LoginTaken
from access.models import Role, User, check_agency
from access.sqlite_audit import now_record, write
from access.sqlite_store import SqliteAccounts

from .errors import GroupNotFound
from .models import Department, Institute, Programme
from .roster import CheckedRow, RowStatus
from .sqlite_base import programme_of
from .sqlite_structure import SqliteStructure


@dataclass(frozen=True, slots=True)
class ImportCounts:
    created: int  # student accounts created
    added: int  # learners added to the group (the created ones too)
    already: int  # learners who were members before


class SqliteGroups:
    """Lists and writes for managing groups, over the same connection as the timetable."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._accounts = SqliteAccounts(db)

    # -- structure ----------------------------------------------------------------------------
    def institutes(self, *, archived: bool = True) -> list[Institute]:
        """Every institute; for a picker without the archived (``archived=False``)."""
        return SqliteStructure(self._db).institutes(archived=archived)

    def departments(self, *, archived: bool = True) -> list[Department]:
        """Every department; for a picker without the archived (``archived=False``)."""
        return SqliteStructure(self._db).departments(archived=archived)

    def programmes(self) -> list[Programme]:
        rows = self._db.execute("SELECT * FROM programmes ORDER BY name, id")
        return [programme_of(r) for r in rows.fetchall()]

    def name_taken(self, name: str) -> bool:
        row = self._db.execute("SELECT 1 FROM groups WHERE name = ?", (name,)).fetchone()
        return row is not None

    def member_counts(self, group_ids: Sequence[int]) -> dict[int, int]:
        """group id → number of members, of these groups (those without members are absent)."""
        ids = [int(g) for g in group_ids] or [0]
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT group_id, COUNT(*) FROM group_members WHERE group_id IN ({marks})"  # noqa: S608
            " GROUP BY group_id",
            ids,
        ).fetchall()
        return {g: n for g, n in rows}

    # -- accounts -----------------------------------------------------------------------------
    def users_with_role(self, role: Role) -> list[User]:
        """Every account of a role, by name."""
        ids = [r[0] for r in self._db.execute("SELECT id FROM users WHERE role = ?", (role.value,))]
        return sorted(
            self._accounts.many(ids).values(), key=lambda u: (u.full_name.casefold(), u.id)
        )

    def users_by_login(self, logins: Iterable[str]) -> dict[str, User]:
        """The accounts among these logins, by login."""
        wanted = list(dict.fromkeys(logins))
        ids: list[int] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._db.execute(
                f"SELECT id FROM users WHERE login IN ({','.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            )
            ids.extend(r[0] for r in rows)
        return {u.login: u for u in self._accounts.many(ids).values()}

    # -- the import ---------------------------------------------------------------------------
    def import_members(
        self, group_id: int, rows: Sequence[CheckedRow], actor: Actor | None = None
    ) -> ImportCounts:
        """Create the new students, set the agencies the file gives, add everyone to the group:
        all of it or (on any error) none of it. Rows in error are skipped. An account is
        created only as a student, and an existing one is changed or added only if it is a
        student's, whatever the rows say. ``LoginTaken`` (and nothing written) when a login was
        taken since the rows were checked. With ``actor``, the students' accounts it created
        are one record of the audit trail (its counts), in the same transaction."""
        if self._db.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
            raise GroupNotFound(f"No group with id {group_id}")
        created = added = already = 0
        now = self._clock()
        # One transaction: SqliteAccounts commits each call, so its writes are spelled out here.
        with self._db:
            for checked in rows:
                if checked.status is RowStatus.ERROR:
                    continue
                row = checked.row
                agency = row.agency.strip() or None
                check_agency(agency)
                if checked.status is RowStatus.NEW:
                    User(id=0, login=row.login, full_name=row.full_name, role=Role.STUDENT,
                         agency=agency)  # fmt: skip
                    try:
                        cur = self._db.execute(
                            "INSERT INTO users (login, full_name, role, password_hash, language,"
                            " agency, created_at) VALUES (?, ?, ?, NULL, NULL, ?, ?)",
                            (row.login, row.full_name.strip(), Role.STUDENT.value, agency, now),
                        )
                    except sqlite3.IntegrityError as exc:  # taken since the rows were checked
                        raise LoginTaken(f"The login {row.login!r} is taken") from exc
                    assert cur.lastrowid is not None
                    user_id = cur.lastrowid
                    created += 1
                else:
                    assert checked.user is not None
                    user_id = checked.user.id
                    if agency is not None:
                        self._db.execute(
                            "UPDATE users SET agency = ? WHERE id = ? AND role = ?",
                            (agency, user_id, Role.STUDENT.value),
                        )
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO group_members (group_id, user_id)"
                    " SELECT ?, id FROM users WHERE id = ? AND role = ?",
                    (group_id, user_id, Role.STUDENT.value),
                )
                if cur.rowcount == 1:
                    added += 1
                else:
                    already += 1
            if actor is not None and created:
                name = self._db.execute("SELECT name FROM groups WHERE id = ?", (group_id,))
                after = {"count": created, "roles": {Role.STUDENT.value: created},
                         "group_id": group_id, "added_to_group": added}  # fmt: skip
                write(self._db, now_record(
                    self._clock, actor, Action.IMPORTED, ObjectKind.ACCOUNT, None,
                    after=after, label=name.fetchone()[0],
                ))  # fmt: skip
        return ImportCounts(created, added, already)
