"""The agencies that send learners, in SQLite: their names and their HR services' addresses.

A learner names their agency by name (``users.agency``, as the member import and the agency
report always did); the table holds every such name (the migration took the names given before
it, a trigger takes every name given since) with what the name alone cannot carry: the HR
service's contacts and whether it is archived. Renaming an agency renames it on its learners in
the same transaction, so the report and the learner's history follow."""

from __future__ import annotations

import sqlite3
from typing import Any

from access.audit import Action, Actor, ObjectKind, changed, structure_action
from access.sqlite_audit import now_record, write

from .errors import AgencyNotFound, StructureNameTaken
from .sqlite_base import SqliteStore
from .structure import Agency, clean_contacts, clean_name


def agency_of(row: sqlite3.Row) -> Agency:
    contacts = tuple(a for a in row["contacts"].split("\n") if a)
    return Agency(row["id"], row["name"], contacts, row["archived_at"] is not None)


def agency_fields(a: Agency) -> dict[str, Any]:
    """An agency as the audit trail sees it (its HR contacts are addresses, not secrets)."""
    return {"name": a.name, "contacts": list(a.contacts), "archived": a.archived}


class SqliteAgencies(SqliteStore):
    def agencies(self, *, archived: bool = True) -> list[Agency]:
        """Every agency by name; without the archived ones for a picker (``archived=False``)."""
        rows = self._db.execute("SELECT * FROM agencies ORDER BY name, id").fetchall()
        return [a for a in map(agency_of, rows) if archived or not a.archived]

    def agency(self, agency_id: int) -> Agency:
        row = self._db.execute("SELECT * FROM agencies WHERE id = ?", (agency_id,)).fetchone()
        if row is None:
            raise AgencyNotFound(f"No agency with id {agency_id}")
        return agency_of(row)

    def learner_counts(self) -> dict[str, int]:
        """How many accounts name each agency (by the name as kept, letter case aside)."""
        rows = self._db.execute(
            "SELECT agency, count(*) FROM users WHERE agency IS NOT NULL"
            " GROUP BY agency COLLATE NOCASE"
        )
        return {r[0].casefold(): int(r[1]) for r in rows}

    def _check_free(self, name: str, own_id: int = 0) -> None:
        for other_id, other in self._db.execute("SELECT id, name FROM agencies"):
            if other_id != own_id and other.casefold() == name.casefold():
                raise StructureNameTaken(name)

    def create_agency(
        self, name: str, contacts: tuple[str, ...] = (), actor: Actor | None = None
    ) -> Agency:
        name = clean_name(name)
        contacts = clean_contacts(contacts)
        self._check_free(name)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO agencies (name, contacts) VALUES (?, ?)", (name, "\n".join(contacts))
            )
            assert cur.lastrowid is not None
            made = self.agency(cur.lastrowid)
            if actor is not None:
                after = {"name": made.name, "contacts": list(made.contacts)}
                write(self._db, now_record(
                    self._clock, actor, Action.CREATED, ObjectKind.AGENCY, made.id,
                    after=after, label=made.name,
                ))  # fmt: skip
        return made

    def change_agency(
        self,
        agency_id: int,
        *,
        name: str | None = None,
        contacts: tuple[str, ...] | None = None,
        archived: bool | None = None,
        actor: Actor | None = None,
    ) -> Agency:
        """Rename (on its learners too), replace the HR contacts, archive or bring back; what is
        not given stays. With ``actor``, what changed is recorded in the same transaction."""
        current = self.agency(agency_id)
        if name is not None:
            name = clean_name(name)
            self._check_free(name, agency_id)
        if contacts is not None:
            contacts = clean_contacts(contacts)
        with self._db:
            if name is not None and name != current.name:
                self._db.execute("UPDATE agencies SET name = ? WHERE id = ?", (name, agency_id))
                self._db.execute(
                    "UPDATE users SET agency = ? WHERE agency = ? COLLATE NOCASE",
                    (name, current.name),
                )
            if contacts is not None:
                self._db.execute(
                    "UPDATE agencies SET contacts = ? WHERE id = ?",
                    ("\n".join(contacts), agency_id),
                )
            if archived is not None and archived != current.archived:
                self._db.execute(
                    "UPDATE agencies SET archived_at = ? WHERE id = ?",
                    (self._clock() if archived else None, agency_id),
                )
            after = self.agency(agency_id)
            old, new = changed(agency_fields(current), agency_fields(after))
            if actor is not None and new:
                write(self._db, now_record(
                    self._clock, actor, structure_action(old, new), ObjectKind.AGENCY, agency_id,
                    old, new, after.name,
                ))  # fmt: skip
        return after
