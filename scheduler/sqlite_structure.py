"""The academy's structure in SQLite: institutes, their departments and programmes, and who
directs or heads them; names, directors and heads changed, archived and brought back by the
rules of ``structure``."""

from __future__ import annotations

import enum
import sqlite3
from typing import Any

from access.audit import Action, Actor, ObjectKind, changed, structure_action
from access.sqlite_audit import now_record, write

from .errors import (
    ArchivedParent,
    DepartmentNotFound,
    GroupNotFound,
    InstituteNotFound,
    StructureNameTaken,
    WrongRoleFor,
)
from .models import Department, Institute, Programme, ProgrammeKind
from .sqlite_base import SqliteStore, programme_of
from .structure import POSTS, FirstRun, clean_name


class Keep(enum.Enum):
    """A value left as it is (a director or head not given is not cleared)."""

    KEEP = 0


KEEP = Keep.KEEP


def institute_of(row: sqlite3.Row) -> Institute:
    return Institute(row["id"], row["name"], row["director_id"], row["archived_at"] is not None)


def department_of(row: sqlite3.Row) -> Department:
    return Department(
        row["id"], row["institute_id"], row["name"], row["head_id"], row["archived_at"] is not None
    )


def institute_fields(i: Institute) -> dict[str, Any]:
    """An institute as the audit trail sees it."""
    return {"name": i.name, "director_id": i.director_id, "archived": i.archived}


def department_fields(d: Department) -> dict[str, Any]:
    return {
        "name": d.name, "institute_id": d.institute_id, "head_id": d.head_id,
        "archived": d.archived,
    }  # fmt: skip


class SqliteStructure(SqliteStore):
    def _audit(
        self,
        actor: Actor | None,
        kind: ObjectKind,
        object_id: int,
        label: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        """A record of a change of the structure, in the caller's transaction: a creation
        (``before`` None), or a change of the fields that differ (none: nothing recorded)."""
        if actor is None:
            return
        old: dict[str, Any] = {}
        if before is None:
            new = {k: v for k, v in after.items() if v is not None and k != "archived"}
            action = Action.CREATED
        else:
            old, new = changed(before, after)
            if not new:
                return
            action = structure_action(old, new)
        write(self._db, now_record(self._clock, actor, action, kind, object_id, old, new, label))

    def add_institute(
        self, name: str, director_id: int | None, actor: Actor | None = None
    ) -> Institute:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO institutes (name, director_id) VALUES (?, ?)", (name, director_id)
            )
            assert cur.lastrowid is not None
            made = Institute(id=cur.lastrowid, name=name, director_id=director_id)
            self._audit(actor, ObjectKind.INSTITUTE, made.id, name, None, institute_fields(made))
        return made

    def add_department(
        self, institute_id: int, name: str, head_id: int | None, actor: Actor | None = None
    ) -> Department:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO departments (institute_id, name, head_id) VALUES (?, ?, ?)",
                (institute_id, name, head_id),
            )
            assert cur.lastrowid is not None
            made = Department(cur.lastrowid, institute_id=institute_id, name=name, head_id=head_id)
            fields = department_fields(made)
            self._audit(actor, ObjectKind.DEPARTMENT, made.id, name, None, fields)
        return made

    def add_programme(
        self, name: str, kind: ProgrammeKind, institute_id: int, *, distance: bool = True
    ) -> Programme:
        Programme(0, name, kind, institute_id, distance)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO programmes (name, kind, institute_id, distance) VALUES (?, ?, ?, ?)",
                (name, kind.value, institute_id, int(distance)),
            )
        assert cur.lastrowid is not None
        return Programme(cur.lastrowid, name, kind, institute_id, distance)

    def programme(self, programme_id: int) -> Programme:
        row = self._db.execute("SELECT * FROM programmes WHERE id = ?", (programme_id,)).fetchone()
        if row is None:
            raise GroupNotFound(f"No programme with id {programme_id}")
        return programme_of(row)

    def groups_of_director(self, user_id: int) -> list[int]:
        """The groups of the institutes this person directs."""
        rows = self._db.execute(
            "SELECT g.id FROM groups g JOIN departments d ON d.id = g.department_id"
            " JOIN institutes i ON i.id = d.institute_id WHERE i.director_id = ? ORDER BY g.id",
            (user_id,),
        )
        return [r[0] for r in rows]

    def institutes_of_person(self, user_id: int) -> list[int]:
        """The institutes this person directs or heads a department of."""
        rows = self._db.execute(
            "SELECT id FROM institutes WHERE director_id = ?"
            " UNION SELECT institute_id FROM departments WHERE head_id = ? ORDER BY 1",
            (user_id, user_id),
        )
        return [r[0] for r in rows]

    def institutes_by_group(self) -> dict[int, int]:
        """Every group's institute (through its department)."""
        rows = self._db.execute(
            "SELECT g.id, d.institute_id FROM groups g JOIN departments d ON d.id = g.department_id"
        )
        return {r[0]: r[1] for r in rows}

    def department(self, department_id: int) -> Department:
        row = self._db.execute(
            "SELECT * FROM departments WHERE id = ?", (department_id,)
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No department with id {department_id}")
        return department_of(row)

    def institute_of_group(self, group_id: int) -> Institute:
        """The institute a group belongs to (through its department)."""
        row = self._db.execute(
            "SELECT i.* FROM institutes i JOIN departments d ON d.institute_id = i.id"
            " JOIN groups g ON g.department_id = d.id WHERE g.id = ?",
            (group_id,),
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No group with id {group_id}")
        return institute_of(row)

    # -- managing the structure (staff and administrators) -----------------------------------
    def institutes(self, *, archived: bool = True) -> list[Institute]:
        """Every institute by name; without the archived ones for a picker (``archived=False``)."""
        rows = self._db.execute("SELECT * FROM institutes ORDER BY name, id").fetchall()
        return [i for i in map(institute_of, rows) if archived or not i.archived]

    def departments(
        self, institute_id: int | None = None, *, archived: bool = True
    ) -> list[Department]:
        """Every department by name (of one institute); without the archived ones for a
        picker, nor those of an archived institute."""
        rows = self._db.execute(
            "SELECT d.*, i.archived_at AS institute_archived FROM departments d"
            " JOIN institutes i ON i.id = d.institute_id"
            " WHERE ? IS NULL OR d.institute_id = ? ORDER BY d.name, d.id",
            (institute_id, institute_id),
        ).fetchall()
        return [
            department_of(r)
            for r in rows
            if archived or (r["archived_at"] is None and r["institute_archived"] is None)
        ]

    def institute(self, institute_id: int) -> Institute:
        row = self._db.execute("SELECT * FROM institutes WHERE id = ?", (institute_id,)).fetchone()
        if row is None:
            raise InstituteNotFound(f"No institute with id {institute_id}")
        return institute_of(row)

    def structure_department(self, department_id: int) -> Department:
        """The department, or ``DepartmentNotFound``."""
        try:
            return self.department(department_id)
        except GroupNotFound:
            raise DepartmentNotFound(f"No department with id {department_id}") from None

    def _check_post(self, post: str, user_id: int | None) -> None:
        """Whoever is named director (head) is an account of that role."""
        if user_id is None:
            return
        row = self._db.execute("SELECT role FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None or row["role"] != POSTS[post].value:
            raise WrongRoleFor(post)

    @staticmethod
    def _check_free(name: str, taken: list[tuple[int, str]], own_id: int = 0) -> None:
        if any(n.casefold() == name.casefold() for i, n in taken if i != own_id):
            raise StructureNameTaken(name)

    def _institute_names(self) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self._db.execute("SELECT id, name FROM institutes")]

    def _department_names(self, institute_id: int) -> list[tuple[int, str]]:
        rows = self._db.execute(
            "SELECT id, name FROM departments WHERE institute_id = ?", (institute_id,)
        )
        return [(r[0], r[1]) for r in rows]

    def create_institute(
        self, name: str, director_id: int | None = None, actor: Actor | None = None
    ) -> Institute:
        name = clean_name(name)
        self._check_free(name, self._institute_names())
        self._check_post("director", director_id)
        return self.add_institute(name, director_id, actor)

    def change_institute(
        self,
        institute_id: int,
        *,
        name: str | None = None,
        director_id: int | Keep | None = KEEP,
        archived: bool | None = None,
        actor: Actor | None = None,
    ) -> Institute:
        """Rename, name (or, with ``None``, clear) the director, archive or bring back; what is
        not given stays (``KEEP``: unchanged). With ``actor``, what changed is recorded in the
        same transaction."""
        current = self.institute(institute_id)
        if name is not None:
            name = clean_name(name)
            self._check_free(name, self._institute_names(), institute_id)
        if not isinstance(director_id, Keep):
            self._check_post("director", director_id)
        with self._db:
            if name is not None:
                self._db.execute(
                    "UPDATE institutes SET name = ? WHERE id = ?", (name, institute_id)
                )
            if not isinstance(director_id, Keep):
                self._db.execute(
                    "UPDATE institutes SET director_id = ? WHERE id = ?",
                    (director_id, institute_id),
                )
            if archived is not None and archived != current.archived:
                self._db.execute(
                    "UPDATE institutes SET archived_at = ? WHERE id = ?",
                    (self._clock() if archived else None, institute_id),
                )
            after = self.institute(institute_id)
            self._audit(actor, ObjectKind.INSTITUTE, institute_id, after.name,
                        institute_fields(current), institute_fields(after))  # fmt: skip
        return after

    def create_department(
        self,
        institute_id: int,
        name: str,
        head_id: int | None = None,
        actor: Actor | None = None,
    ) -> Department:
        if self.institute(institute_id).archived:
            raise ArchivedParent()
        name = clean_name(name)
        self._check_free(name, self._department_names(institute_id))
        self._check_post("head_of_department", head_id)
        return self.add_department(institute_id, name, head_id, actor)

    def change_department(
        self,
        department_id: int,
        *,
        name: str | None = None,
        head_id: int | Keep | None = KEEP,
        archived: bool | None = None,
        actor: Actor | None = None,
    ) -> Department:
        """Like ``change_institute``; a department of an archived institute is not brought
        back before its institute."""
        current = self.structure_department(department_id)
        if name is not None:
            name = clean_name(name)
            taken = self._department_names(current.institute_id)
            self._check_free(name, taken, department_id)
        if not isinstance(head_id, Keep):
            self._check_post("head_of_department", head_id)
        if archived is False and self.institute(current.institute_id).archived:
            raise ArchivedParent()
        with self._db:
            if name is not None:
                self._db.execute(
                    "UPDATE departments SET name = ? WHERE id = ?", (name, department_id)
                )
            if not isinstance(head_id, Keep):
                self._db.execute(
                    "UPDATE departments SET head_id = ? WHERE id = ?", (head_id, department_id)
                )
            if archived is not None and archived != current.archived:
                self._db.execute(
                    "UPDATE departments SET archived_at = ? WHERE id = ?",
                    (self._clock() if archived else None, department_id),
                )
            after = self.structure_department(department_id)
            self._audit(actor, ObjectKind.DEPARTMENT, department_id, after.name,
                        department_fields(current), department_fields(after))  # fmt: skip
        return after

    def first_run(self) -> FirstRun:
        """How far the academy is set up (the administrator's checklist)."""
        row = self._db.execute(
            "SELECT (SELECT count(*) FROM institutes WHERE archived_at IS NULL),"
            " (SELECT count(*) FROM departments WHERE archived_at IS NULL),"
            " (SELECT count(*) FROM users WHERE role != 'admin'),"
            " (SELECT count(*) FROM groups), (SELECT count(*) FROM classes)"
        ).fetchone()
        return FirstRun(*(int(v) for v in row))
