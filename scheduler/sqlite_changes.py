"""The timetable's change log in SQLite: who (or which job of Sabaq's) changed what, and why."""

from __future__ import annotations

import sqlite3

from .models import TimetableAction, TimetableChange
from .planning import Actor
from .sqlite_base import SqliteStore


class SqliteChangeLog(SqliteStore):
    def _log(
        self,
        at: float,
        action: TimetableAction,
        by: Actor,
        class_id: int | None,
        group_id: int | None,
        reason: str,
        switch_id: int | None = None,
    ) -> None:
        """Log a change within the caller's transaction."""
        self._db.execute(
            "INSERT INTO timetable_log"
            " (at, action, by_id, by_name, class_id, group_id, reason, switch_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, action.value, by.id, by.name, class_id, group_id, reason, switch_id),
        )

    def log(
        self,
        action: TimetableAction,
        *,
        by: Actor,
        reason: str,
        class_id: int | None = None,
        group_id: int | None = None,
    ) -> None:
        with self._db:
            self._log(self._clock(), action, by, class_id, group_id, reason)

    def changes(
        self, *, class_id: int | None = None, group_id: int | None = None, limit: int = 200
    ) -> list[TimetableChange]:
        """The log of changes, newest first, of one class or one group (or all)."""
        where, params = "1", list[object]()
        if class_id is not None:
            where, params = "class_id = ?", [class_id]
        elif group_id is not None:
            where, params = "group_id = ?", [group_id]
        rows = self._db.execute(
            f"SELECT * FROM timetable_log WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_change(r) for r in rows.fetchall()]

    def changes_after(self, position: int, limit: int = 500) -> list[tuple[int, TimetableChange]]:
        """The changes logged after ``position``, oldest first, each with its position (for
        those who follow the log: the webhook outbox)."""
        rows = self._db.execute(
            "SELECT * FROM timetable_log WHERE id > ? ORDER BY id LIMIT ?", (position, limit)
        )
        return [
            (
                r["id"],
                _change(r),
            )
            for r in rows.fetchall()
        ]

    def last_change_id(self) -> int:
        """The position of the newest change logged (0: none)."""
        return int(self._db.execute("SELECT MAX(id) FROM timetable_log").fetchone()[0] or 0)


def _change(r: sqlite3.Row) -> TimetableChange:
    return TimetableChange(
        r["at"],
        TimetableAction(r["action"]),
        r["by_id"],
        r["by_name"],
        r["class_id"],
        r["group_id"],
        r["reason"],
        r["switch_id"],
    )
