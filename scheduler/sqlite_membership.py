"""Groups in SQLite: the group, its members and its teachers, and its activation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from access.sqlite_search import contains, like, searchable

from .errors import ArchivedDepartment, GroupNotFound
from .models import Group, group_flags
from .planning import check_activation, starts_active
from .sqlite_structure import SqliteStructure


@dataclass(frozen=True, slots=True)
class GroupQuery:
    """Which groups: a search in the name, active or not (None: both), and those of the
    institutes ``institutes`` or among ``groups`` (``institutes`` None: every group)."""

    search: str = ""
    active: bool | None = None
    institutes: frozenset[int] | None = None
    groups: frozenset[int] = frozenset()  # besides the institutes': taught or learnt in


class SqliteMembership(SqliteStructure):
    def add_group(
        self,
        name: str,
        department_id: int,
        language: str,
        timezone: str,
        *,
        programme_id: int | None = None,
        starts_on: date | None = None,
        ends_on: date | None = None,
        active: bool = True,
    ) -> Group:
        """A new group; an additional-education group starts inactive (it has no members yet,
        and may be activated with 20). Only in a department that is open: not archived, nor
        in an archived institute (``ArchivedDepartment``)."""
        Group(0, name, department_id, language, timezone, programme_id, starts_on, ends_on)
        department = self.department(department_id)
        if department.archived or self.institute(department.institute_id).archived:
            raise ArchivedDepartment()
        programme = self.programme(programme_id) if programme_id is not None else None
        active = starts_active(programme, active)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO groups (name, department_id, language, timezone, programme_id,"
                " starts_on, ends_on, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    department_id,
                    language,
                    timezone,
                    programme_id,
                    starts_on.isoformat() if starts_on else None,
                    ends_on.isoformat() if ends_on else None,
                    int(active),
                ),
            )
        assert cur.lastrowid is not None
        return self.group(cur.lastrowid)

    def group(self, group_id: int) -> Group:
        row = self._db.execute("SELECT * FROM groups WHERE id = ?", (group_id,)).fetchone()
        if row is None:
            raise GroupNotFound(f"No group with id {group_id}")
        return self._group(row)

    @staticmethod
    def _group(row: sqlite3.Row) -> Group:
        return Group(
            id=row["id"],
            name=row["name"],
            department_id=row["department_id"],
            language=row["language"],
            timezone=row["timezone"],
            programme_id=row["programme_id"],
            starts_on=date.fromisoformat(row["starts_on"]) if row["starts_on"] else None,
            ends_on=date.fromisoformat(row["ends_on"]) if row["ends_on"] else None,
            active=bool(row["active"]),
        )

    def groups(self) -> list[Group]:
        rows = self._db.execute("SELECT * FROM groups ORDER BY name")
        return [self._group(r) for r in rows.fetchall()]

    def find_groups(self, q: GroupQuery, limit: int, offset: int) -> tuple[list[Group], int]:
        """A page of the groups ``q`` names, by name, and how many there are in all."""
        clauses, args = ["1"], list[object]()
        if q.institutes is not None:
            ids, own = sorted(q.institutes), sorted(q.groups)
            clauses.append(
                "(department_id IN (SELECT id FROM departments WHERE institute_id IN"  # noqa: S608
                f" ({','.join('?' * len(ids))})) OR id IN ({','.join('?' * len(own))}))"
            )
            args += [*ids, *own]
        if q.search.strip():
            searchable(self._db)
            clauses.append(contains("name"))
            args.append(like(q.search))
        if q.active is not None:
            clauses.append("active = ?")
            args.append(int(q.active))
        where = " AND ".join(clauses)
        total = self._db.execute(f"SELECT count(*) FROM groups WHERE {where}", args).fetchone()[0]  # noqa: S608
        rows = self._db.execute(
            f"SELECT * FROM groups WHERE {where} ORDER BY name, id LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        )
        return [self._group(r) for r in rows.fetchall()], int(total)

    def flags(self, group: Group) -> list[str]:
        """What keeps the group from being activated."""
        programme = self.programme(group.programme_id) if group.programme_id else None
        count = self._db.execute(
            "SELECT COUNT(*) FROM group_members WHERE group_id = ?", (group.id,)
        ).fetchone()[0]
        return group_flags(group, programme, count)

    def set_active(self, group_id: int, active: bool) -> Group:
        group = self.group(group_id)
        if active:
            check_activation(group, self.flags(group))
        with self._db:
            self._db.execute("UPDATE groups SET active = ? WHERE id = ?", (int(active), group_id))
        return self.group(group_id)

    def add_members(self, group_id: int, user_ids: Iterable[int]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)",
                [(group_id, u) for u in user_ids],
            )

    def add_teacher(self, group_id: int, user_id: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO group_teachers (group_id, user_id) VALUES (?, ?)",
                (group_id, user_id),
            )

    def members(self, group_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id", (group_id,)
        )
        return [r[0] for r in rows]

    def groups_of_member(self, user_id: int) -> list[Group]:
        rows = self._db.execute(
            "SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", (user_id,)
        )
        return [self.group(r[0]) for r in rows.fetchall()]

    def teachers(self, group_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT user_id FROM group_teachers WHERE group_id = ? ORDER BY user_id", (group_id,)
        )
        return [r[0] for r in rows]

    def groups_of_teacher(self, user_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT group_id FROM group_teachers WHERE user_id = ? ORDER BY group_id", (user_id,)
        )
        return [r[0] for r in rows]

    def is_teacher_of(self, user_id: int, group_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM group_teachers WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        ).fetchone()
        return row is not None

    def related_groups(self, group_ids: Sequence[int]) -> list[int]:
        """The groups themselves and every group that shares a member with one of them."""
        if not group_ids:
            return []
        marks = ",".join("?" * len(group_ids))
        rows = self._db.execute(
            "SELECT DISTINCT m2.group_id FROM group_members m1"  # noqa: S608
            " JOIN group_members m2 ON m2.user_id = m1.user_id"
            f" WHERE m1.group_id IN ({marks})",
            tuple(group_ids),
        )
        return sorted({*group_ids, *(r[0] for r in rows)})

    def members_of(self, group_ids: Sequence[int]) -> set[int]:
        """Every member of any of the groups."""
        return {u for g in group_ids for u in self.members(g)}
