"""The audit trail in SQLite: append-only records of administrative changes.

``write`` adds a record on a connection without committing: a store calls it inside the
transaction of the change it records (``with db: ...change...; write(db, ...)``), so the change
and its record are committed together or not at all. ``SqliteAudit`` reads the trail a page at
a time, newest first, and records what changes nothing in the database (a set-password link
issued)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from .audit import Action, Actor, ActorKind, AuditQuery, AuditRecord, Fields, ObjectKind

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "access_0006_audit",
        """
        -- Administrative changes: who, what, when, the changed fields before and after.
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,  -- UTC seconds
            actor_kind TEXT NOT NULL,  -- user, api_key, cli
            actor_id INTEGER,
            actor_name TEXT NOT NULL,
            action TEXT NOT NULL,
            object_kind TEXT NOT NULL,
            object_id INTEGER,
            object_label TEXT NOT NULL,
            before TEXT NOT NULL,  -- JSON object of the changed fields
            after TEXT NOT NULL
        );
        CREATE INDEX audit_log_at ON audit_log(at, id);
        CREATE INDEX audit_log_actor ON audit_log(actor_kind, actor_id, at);
        CREATE INDEX audit_log_object ON audit_log(object_kind, object_id);
        """,
    ),
)


def _json(fields: Fields) -> str:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, allow_nan=False)


def write(db: sqlite3.Connection, record: AuditRecord) -> int:
    """Add ``record`` in the transaction the caller holds open (nothing is committed here)."""
    cur = db.execute(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, object_kind,"
        " object_id, object_label, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.at,
            record.actor.kind.value,
            record.actor.id,
            record.actor.name,
            record.action.value,
            record.kind.value,
            record.object_id,
            record.object_label[:200],
            _json(record.before),
            _json(record.after),
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def record_of(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=row["at"],
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_name"]),
        action=Action(row["action"]),
        kind=ObjectKind(row["object_kind"]),
        object_id=row["object_id"],
        object_label=row["object_label"],
        before=json.loads(row["before"]),
        after=json.loads(row["after"]),
    )


def _where(q: AuditQuery) -> tuple[str, list[Any]]:
    clauses, args = ["1"], list[Any]()
    if q.actor is not None:
        kind, actor_id = q.actor
        clauses.append("actor_kind = ? AND actor_id IS ?")
        args += [kind.value, actor_id]
    if q.kind is not None:
        clauses.append("object_kind = ?")
        args.append(q.kind.value)
    if q.action is not None:
        clauses.append("action = ?")
        args.append(q.action.value)
    if q.since is not None:
        clauses.append("at >= ?")
        args.append(q.since)
    if q.until is not None:
        clauses.append("at < ?")
        args.append(q.until)
    return " AND ".join(clauses), args


class SqliteAudit:
    """The trail, read; and records of what writes nothing else."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        actor: Actor,
        action: Action,
        kind: ObjectKind,
        object_id: int | None,
        *,
        label: str = "",
        before: Fields | None = None,
        after: Fields | None = None,
    ) -> AuditRecord:
        """A record of its own (for a change that writes nothing else), committed now."""
        rec = AuditRecord(
            actor, action, kind, object_id, self._clock(), before or {}, after or {}, label
        )
        with self._db:
            rec_id = write(self._db, rec)
        return self.get(rec_id)

    def get(self, record_id: int) -> AuditRecord:
        row = self._db.execute("SELECT * FROM audit_log WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise KeyError(record_id)
        return record_of(row)

    def find(self, q: AuditQuery, limit: int, offset: int = 0) -> tuple[list[AuditRecord], int]:
        """A page of the records ``q`` names, newest first, and how many there are in all."""
        where, args = _where(q)
        total = self._db.execute(f"SELECT count(*) FROM audit_log WHERE {where}", args)  # noqa: S608
        rows = self._db.execute(
            f"SELECT * FROM audit_log WHERE {where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        )
        return [record_of(r) for r in rows.fetchall()], int(total.fetchone()[0])

    def each(self, q: AuditQuery, limit: int) -> Iterator[AuditRecord]:
        """The records ``q`` names, newest first, at most ``limit`` (an export)."""
        where, args = _where(q)
        rows = self._db.execute(
            f"SELECT * FROM audit_log WHERE {where} ORDER BY at DESC, id DESC LIMIT ?",  # noqa: S608
            [*args, limit],
        )
        for r in rows.fetchall():
            yield record_of(r)

    def actors(self) -> list[Actor]:
        """Everyone who appears in the trail (by their latest name), for the filter."""
        rows = self._db.execute(
            "SELECT actor_kind, actor_id, actor_name FROM audit_log WHERE id IN"
            " (SELECT max(id) FROM audit_log GROUP BY actor_kind, actor_id)"
            " ORDER BY actor_name, actor_kind, actor_id"
        )
        return [Actor(ActorKind(r[0]), r[1], r[2]) for r in rows]


def now_record(
    clock: Callable[[], float],
    actor: Actor,
    action: Action,
    kind: ObjectKind,
    object_id: int | None,
    before: Fields | None = None,
    after: Fields | None = None,
    label: str = "",
) -> AuditRecord:
    """A record stamped by ``clock`` (for ``write``)."""
    return AuditRecord(actor, action, kind, object_id, clock(), before or {}, after or {}, label)
