"""Institutes, departments, groups, members and classes in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from .errors import ClassConflict, ClassNotFound, GroupNotFound
from .models import (
    LONGEST_CLASS,
    OCCUPYING,
    ClassFormat,
    ClassKind,
    ClassStatus,
    Department,
    Group,
    Institute,
    LiveClass,
    check_transition,
)

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "scheduler_0001_groups_classes",
        """
        CREATE TABLE institutes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            director_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE departments (
            id INTEGER PRIMARY KEY,
            institute_id INTEGER NOT NULL REFERENCES institutes(id),
            name TEXT NOT NULL,
            head_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            department_id INTEGER NOT NULL REFERENCES departments(id),
            language TEXT NOT NULL,
            timezone TEXT NOT NULL
        );
        CREATE TABLE group_members (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX group_members_user ON group_members(user_id);
        CREATE TABLE group_teachers (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE TABLE classes (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            format TEXT NOT NULL,
            teacher_id INTEGER NOT NULL REFERENCES users(id),
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL
        );
        CREATE INDEX classes_teacher ON classes(teacher_id, starts_at);
        CREATE TABLE class_groups (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            PRIMARY KEY (class_id, group_id)
        );
        CREATE INDEX class_groups_group ON class_groups(group_id);
        """,
    ),
    (
        "scheduler_0002_individual_classes",
        """
        CREATE TABLE class_learners (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (class_id, user_id)
        );
        CREATE INDEX class_learners_user ON class_learners(user_id);
        CREATE INDEX classes_starts ON classes(starts_at);
        """,
    ),
)


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class SqliteTimetable:
    """The academy's structure and its classes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    # -- structure ----------------------------------------------------------------------------
    def add_institute(self, name: str, director_id: int | None) -> Institute:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO institutes (name, director_id) VALUES (?, ?)", (name, director_id)
            )
        assert cur.lastrowid is not None
        return Institute(id=cur.lastrowid, name=name, director_id=director_id)

    def add_department(self, institute_id: int, name: str, head_id: int | None) -> Department:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO departments (institute_id, name, head_id) VALUES (?, ?, ?)",
                (institute_id, name, head_id),
            )
        assert cur.lastrowid is not None
        return Department(id=cur.lastrowid, institute_id=institute_id, name=name, head_id=head_id)

    def add_group(self, name: str, department_id: int, language: str, timezone: str) -> Group:
        Group(id=0, name=name, department_id=department_id, language=language, timezone=timezone)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO groups (name, department_id, language, timezone) VALUES (?, ?, ?, ?)",
                (name, department_id, language, timezone),
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
        )

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

    def department(self, department_id: int) -> Department:
        row = self._db.execute(
            "SELECT * FROM departments WHERE id = ?", (department_id,)
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No department with id {department_id}")
        return Department(row["id"], row["institute_id"], row["name"], row["head_id"])

    def institute_of_group(self, group_id: int) -> Institute:
        """The institute a group belongs to (through its department)."""
        row = self._db.execute(
            "SELECT i.* FROM institutes i JOIN departments d ON d.institute_id = i.id"
            " JOIN groups g ON g.department_id = d.id WHERE g.id = ?",
            (group_id,),
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No group with id {group_id}")
        return Institute(row["id"], row["name"], row["director_id"])

    def is_teacher_of(self, user_id: int, group_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM group_teachers WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        ).fetchone()
        return row is not None

    # -- classes ------------------------------------------------------------------------------
    def add_class(
        self,
        *,
        title: str,
        kind: ClassKind,
        format: ClassFormat,
        teacher_id: int,
        starts_at: datetime,
        ends_at: datetime,
        group_ids: tuple[int, ...],
        learner_ids: tuple[int, ...] = (),
    ) -> LiveClass:
        """Plan a class; refused (``ClassConflict``) if it would put its teacher, a group or a
        learner in two classes at once. ``learner_ids`` makes it an individual class."""
        if not group_ids:
            raise ValueError("A class needs at least one group")
        for g in group_ids:
            self.group(g)
            if not self.is_teacher_of(teacher_id, g):
                raise ValueError(f"User {teacher_id} does not teach group {g}")
        members = {u for g in group_ids for u in self.members(g)}
        stray = [u for u in learner_ids if u not in members]
        if stray:
            raise ValueError(f"Users {stray} are not members of the class's groups")
        LiveClass(
            id=0,
            title=title,
            kind=kind,
            format=format,
            teacher_id=teacher_id,
            starts_at=starts_at.astimezone(UTC),
            ends_at=ends_at.astimezone(UTC),
            status=ClassStatus.PLANNED,
        )
        conflict = self.find_conflict(
            teacher_id=teacher_id,
            group_ids=group_ids,
            learner_ids=learner_ids,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        if conflict is not None:
            raise conflict
        with self._db:
            cur = self._db.execute(
                "INSERT INTO classes (title, kind, format, teacher_id, starts_at, ends_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    kind.value,
                    format.value,
                    teacher_id,
                    _ts(starts_at),
                    _ts(ends_at),
                    ClassStatus.PLANNED.value,
                ),
            )
            assert cur.lastrowid is not None
            self._db.executemany(
                "INSERT INTO class_groups (class_id, group_id) VALUES (?, ?)",
                [(cur.lastrowid, g) for g in group_ids],
            )
            self._db.executemany(
                "INSERT INTO class_learners (class_id, user_id) VALUES (?, ?)",
                [(cur.lastrowid, u) for u in dict.fromkeys(learner_ids)],
            )
        return self.get_class(cur.lastrowid)

    def find_conflict(
        self,
        *,
        teacher_id: int,
        group_ids: tuple[int, ...],
        learner_ids: tuple[int, ...],
        starts_at: datetime,
        ends_at: datetime,
        ignore_id: int | None = None,
    ) -> ClassConflict | None:
        """The first class (planned, live or held) that overlaps the given time and shares its
        teacher, one of its groups, or — where either class is individual — a learner."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE starts_at > ? AND starts_at < ? AND id != ?"
            " ORDER BY starts_at, id",
            (_ts(starts_at - LONGEST_CLASS), _ts(ends_at), ignore_id or 0),
        ).fetchall()
        groups = set(group_ids)
        people: set[int] | None = None
        for row in rows:
            other = self._class(row)
            if other.status not in OCCUPYING or not other.overlaps(starts_at, ends_at):
                continue
            if other.teacher_id == teacher_id:
                return ClassConflict("teacher", other)
            if not learner_ids and not other.individual:
                if groups.intersection(other.group_ids):
                    return ClassConflict("group", other)
                continue
            if people is None:
                people = set(learner_ids) or {u for g in group_ids for u in self.members(g)}
            if people.intersection(self.learners(other)):
                return ClassConflict("learner", other)
        return None

    def get_class(self, class_id: int) -> LiveClass:
        row = self._db.execute("SELECT * FROM classes WHERE id = ?", (class_id,)).fetchone()
        if row is None:
            raise ClassNotFound(f"No class with id {class_id}")
        return self._class(row)

    def _class(self, row: sqlite3.Row) -> LiveClass:
        groups = self._db.execute(
            "SELECT group_id FROM class_groups WHERE class_id = ? ORDER BY group_id", (row["id"],)
        )
        return LiveClass(
            id=row["id"],
            title=row["title"],
            kind=ClassKind(row["kind"]),
            format=ClassFormat(row["format"]),
            teacher_id=row["teacher_id"],
            starts_at=_dt(row["starts_at"]),
            ends_at=_dt(row["ends_at"]),
            status=ClassStatus(row["status"]),
            group_ids=tuple(g[0] for g in groups.fetchall()),
            learner_ids=tuple(
                r[0]
                for r in self._db.execute(
                    "SELECT user_id FROM class_learners WHERE class_id = ? ORDER BY user_id",
                    (row["id"],),
                )
            ),
        )

    def classes_of_teacher(self, teacher_id: int) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT * FROM classes WHERE teacher_id = ? ORDER BY starts_at, id", (teacher_id,)
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_of_learner(self, user_id: int) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT DISTINCT c.* FROM classes c JOIN class_groups cg ON cg.class_id = c.id"
            " JOIN group_members m ON m.group_id = cg.group_id WHERE m.user_id = ?"
            " AND (NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)"
            " OR EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id AND user_id = ?))"
            " ORDER BY c.starts_at, c.id",
            (user_id, user_id),
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_of_group(
        self, group_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[LiveClass]:
        """The group's classes that start in [start, end), in time order."""
        rows = self._db.execute(
            "SELECT c.* FROM classes c JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE cg.group_id = ? AND c.starts_at >= ? AND c.starts_at < ?"
            " ORDER BY c.starts_at, c.id",
            (
                group_id,
                _ts(start) if start else "",
                _ts(end) if end else "9999",
            ),
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_between(self, start: datetime, end: datetime) -> list[LiveClass]:
        """Every class that starts in [start, end), in time order."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE starts_at >= ? AND starts_at < ? ORDER BY starts_at, id",
            (_ts(start), _ts(end)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def groups(self) -> list[Group]:
        rows = self._db.execute("SELECT * FROM groups ORDER BY name")
        return [self._group(r) for r in rows.fetchall()]

    def all_classes(self, limit: int = 200) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT * FROM classes ORDER BY starts_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [self._class(r) for r in rows.fetchall()]

    def learners(self, live_class: LiveClass) -> list[int]:
        """Every member of every group of the class, once each; an individual class's own."""
        if live_class.learner_ids:
            return list(live_class.learner_ids)
        seen: dict[int, None] = {}
        for g in live_class.group_ids:
            for u in self.members(g):
                seen.setdefault(u, None)
        return list(seen)

    def is_learner(self, user_id: int, live_class: LiveClass) -> bool:
        if live_class.learner_ids:
            return user_id in live_class.learner_ids
        marks = ",".join("?" * len(live_class.group_ids))
        row = self._db.execute(
            f"SELECT 1 FROM group_members WHERE user_id = ? AND group_id IN ({marks})",  # noqa: S608
            (user_id, *live_class.group_ids),
        ).fetchone()
        return row is not None

    def set_status(self, class_id: int, status: ClassStatus) -> LiveClass:
        """Move a class to a new status; the transition must be allowed."""
        current = self.get_class(class_id)
        if current.status == status:
            return current
        check_transition(current.status, status)
        with self._db:
            self._db.execute(
                "UPDATE classes SET status = ? WHERE id = ? AND status = ?",
                (status.value, class_id, current.status.value),
            )
        return self.get_class(class_id)
