"""The academy's structure in SQLite: institutes, their departments and programmes, and who
directs or heads them."""

from __future__ import annotations

from .errors import GroupNotFound
from .models import Department, Institute, Programme, ProgrammeKind
from .sqlite_base import SqliteStore, programme_of


class SqliteStructure(SqliteStore):
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
