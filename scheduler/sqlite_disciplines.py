"""A programme's disciplines and its credit mix (clause 6-1) in SQLite."""

from __future__ import annotations

import sqlite3

from .errors import DisciplineInUse, DisciplineNameTaken, DisciplineNotFound
from .models import CreditMix, Discipline, DisciplineFormat
from .planning import check_mix, same_name
from .sqlite_structure import SqliteStructure


class SqliteDisciplines(SqliteStructure):
    def disciplines(self, programme_id: int) -> list[Discipline]:
        """The programme's disciplines, by name."""
        self.programme(programme_id)
        rows = self._db.execute("SELECT * FROM disciplines WHERE programme_id = ?", (programme_id,))
        return sorted(
            (self._discipline(r) for r in rows.fetchall()),
            key=lambda d: (d.name.casefold(), d.id),
        )

    def discipline(self, discipline_id: int) -> Discipline:
        row = self._db.execute(
            "SELECT * FROM disciplines WHERE id = ?", (discipline_id,)
        ).fetchone()
        if row is None:
            raise DisciplineNotFound(f"No discipline with id {discipline_id}")
        return self._discipline(row)

    @staticmethod
    def _discipline(row: sqlite3.Row) -> Discipline:
        return Discipline(
            id=row["id"],
            programme_id=row["programme_id"],
            name=row["name"],
            credits=row["credits"],
            format=DisciplineFormat(row["format"]),
        )

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None:
        """The programme's discipline of that name (stripped, letter case aside), if any: the
        discipline a class of the programme's groups names in its ``discipline`` text."""
        found = self._named(programme_id, name)
        return found[0] if found else None

    def _named(self, programme_id: int, name: str) -> list[Discipline]:
        """The programme's disciplines of that name, letter case aside, oldest first."""
        wanted = same_name(name)
        if not wanted:
            return []
        rows = self._db.execute(
            "SELECT * FROM disciplines WHERE programme_id = ? ORDER BY id", (programme_id,)
        )
        return [self._discipline(r) for r in rows.fetchall() if same_name(r["name"]) == wanted]

    def credit_mix(self, programme_id: int) -> CreditMix:
        """In-person and total credits of the programme's disciplines."""
        self.programme(programme_id)
        in_person, total = self._db.execute(
            "SELECT COALESCE(SUM(CASE WHEN format = ? THEN credits ELSE 0 END), 0),"
            " COALESCE(SUM(credits), 0) FROM disciplines WHERE programme_id = ?",
            (DisciplineFormat.IN_PERSON.value, programme_id),
        ).fetchone()
        return CreditMix(in_person, total)

    def credit_mixes(self) -> dict[int, CreditMix]:
        """programme id → its credit mix, for every programme, in one query."""
        rows = self._db.execute(
            "SELECT p.id, COALESCE(SUM(CASE WHEN d.format = ? THEN d.credits ELSE 0 END), 0),"
            " COALESCE(SUM(d.credits), 0) FROM programmes p"
            " LEFT JOIN disciplines d ON d.programme_id = p.id GROUP BY p.id",
            (DisciplineFormat.IN_PERSON.value,),
        )
        return {pid: CreditMix(in_person, total) for pid, in_person, total in rows.fetchall()}

    def add_discipline(
        self, programme_id: int, name: str, credits: int, format: DisciplineFormat
    ) -> Discipline:
        """A new discipline of the programme. Refused: a name the programme has, letter case
        aside (``DisciplineNameTaken``); in a distance programme, a mix past 20 % in person
        (``CreditMixExceeded``, with the mix it would have made)."""
        name = name.strip()
        Discipline(0, programme_id, name, credits, DisciplineFormat(format))
        self.programme(programme_id)
        try:
            # The write opens the transaction; the checks read what it would leave, and a
            # refusal rolls it back.
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO disciplines (programme_id, name, credits, format)"
                    " VALUES (?, ?, ?, ?)",
                    (programme_id, name, credits, DisciplineFormat(format).value),
                )
                assert cur.lastrowid is not None
                if any(d.id != cur.lastrowid for d in self._named(programme_id, name)):
                    raise DisciplineNameTaken(name)
                self._settle(programme_id)
        except sqlite3.IntegrityError as exc:  # the same name exactly: the UNIQUE constraint
            raise DisciplineNameTaken(name) from exc
        return self.discipline(cur.lastrowid)

    def change_discipline(
        self, discipline_id: int, credits: int, format: DisciplineFormat
    ) -> Discipline:
        """New credits and format for a discipline (its name stays). Refused with
        ``CreditMixExceeded`` when a distance programme would go past 20 % in person — also
        by lowering a distance discipline's credits."""
        current = self.discipline(discipline_id)
        Discipline(current.id, current.programme_id, current.name, credits, format)
        with self._db:
            self._db.execute(
                "UPDATE disciplines SET credits = ?, format = ? WHERE id = ?",
                (credits, DisciplineFormat(format).value, discipline_id),
            )
            self._settle(current.programme_id)
        return self.discipline(discipline_id)

    def remove_discipline(self, discipline_id: int) -> None:
        """Remove a discipline. Refused: one that classes of the programme's groups name, or
        that other records refer to (``DisciplineInUse``); in a distance programme, one whose
        going would leave more than 20 % in person (``CreditMixExceeded``)."""
        current = self.discipline(discipline_id)
        try:
            with self._db:
                self._db.execute("DELETE FROM disciplines WHERE id = ?", (discipline_id,))
                naming = self._classes_naming(current.programme_id, current.name)
                if naming:
                    raise DisciplineInUse(current.name, naming)
                self._settle(current.programme_id)
        except sqlite3.IntegrityError as exc:  # a foreign key of another table
            raise DisciplineInUse(current.name, 0) from exc

    def _classes_naming(self, programme_id: int, name: str) -> int:
        """How many classes of the programme's groups name the discipline (stripped, letter
        case aside; a class of any status)."""
        rows = self._db.execute(
            "SELECT c.discipline, COUNT(DISTINCT c.id) FROM classes c"
            " JOIN class_groups cg ON cg.class_id = c.id JOIN groups g ON g.id = cg.group_id"
            " WHERE g.programme_id = ? AND c.discipline != '' GROUP BY c.discipline",
            (programme_id,),
        )
        wanted = same_name(name)
        return sum(n for text, n in rows.fetchall() if same_name(text) == wanted)

    def _settle(self, programme_id: int) -> CreditMix:
        """The programme's mix as the open transaction leaves it; past 20 % in a distance
        programme, ``CreditMixExceeded`` (the caller's ``with`` rolls the change back)."""
        mix = self.credit_mix(programme_id)
        return check_mix(self.programme(programme_id), mix)
