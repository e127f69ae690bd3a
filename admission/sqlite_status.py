"""Learners' admission statuses in SQLite, as the append-only history of their changes, and every
time a learner was turned away at the door of a class."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from .sqlite_base import SqliteStore
from .status import AdmissionChange, DoorRefusal, NotAdmittedReason, StatusKey, check_change


def _change(row: sqlite3.Row) -> AdmissionChange:
    return AdmissionChange(
        id=row["id"],
        learner_id=row["learner_id"],
        key=StatusKey(row["programme_id"], row["discipline_id"]),
        admitted=bool(row["admitted"]),
        reason=NotAdmittedReason(row["reason"]) if row["reason"] is not None else None,
        note=row["note"],
        by_id=row["by_id"],
        by_name=row["by_name"],
        at=row["at"],
    )


class SqliteAdmission(SqliteStore):
    """Admission statuses as their append-only history, and the refusals at the door."""

    def record(
        self,
        *,
        learner_id: int,
        key: StatusKey,
        admitted: bool,
        reason: NotAdmittedReason | None,
        note: str,
        by_id: int | None,
        by_name: str,
        at: float,
    ) -> AdmissionChange:
        """Append a change. Its time is never before the learner's previous change, so the
        history's order and its times agree even if the clock steps back."""
        check_change(admitted, reason, note)
        with self._db:
            last = self._db.execute(
                "SELECT MAX(at) FROM admission_changes WHERE learner_id = ?", (learner_id,)
            ).fetchone()[0]
            at = max(at, last) if last is not None else at
            cur = self._db.execute(
                "INSERT INTO admission_changes (learner_id, programme_id, discipline_id,"
                " admitted, reason, note, by_id, by_name, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    learner_id, key.programme_id, key.discipline_id, int(admitted),
                    reason.value if reason else None, note, by_id, by_name, at,
                ),
            )  # fmt: skip
        return AdmissionChange(
            cur.lastrowid or 0, learner_id, key, admitted, reason, note, by_id, by_name, at
        )

    def history(self, learner_id: int) -> list[AdmissionChange]:
        """Every change of the learner's statuses, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM admission_changes WHERE learner_id = ? ORDER BY id", (learner_id,)
        )
        return [_change(r) for r in rows]

    def histories(
        self, learner_ids: Collection[int]
    ) -> dict[int, dict[StatusKey, list[AdmissionChange]]]:
        """learner → status key → its changes, oldest first (learners with none left out)."""
        out: dict[int, dict[StatusKey, list[AdmissionChange]]] = {}
        ids = sorted(set(learner_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._db.execute(
                "SELECT * FROM admission_changes WHERE learner_id IN"  # noqa: S608
                f" ({','.join('?' * len(chunk))}) ORDER BY id",
                chunk,
            )
            for r in rows:
                c = _change(r)
                out.setdefault(c.learner_id, {}).setdefault(c.key, []).append(c)
        return out

    def refused(self, class_id: int, learner_id: int, change_id: int, at: float) -> None:
        """Log a refusal at the door; one a minute per learner and class is enough (a page
        reloaded, a join retried)."""
        with self._db:
            recent = self._db.execute(
                "SELECT 1 FROM admission_refusals WHERE class_id = ? AND learner_id = ?"
                " AND change_id = ? AND at > ?",
                (class_id, learner_id, change_id, at - 60),
            ).fetchone()
            if recent is not None:
                return
            self._db.execute(
                "INSERT INTO admission_refusals (class_id, learner_id, change_id, at)"
                " VALUES (?, ?, ?, ?)",
                (class_id, learner_id, change_id, at),
            )

    def refusals(self, class_id: int) -> list[DoorRefusal]:
        rows = self._db.execute(
            "SELECT * FROM admission_refusals WHERE class_id = ? ORDER BY id", (class_id,)
        )
        return [DoorRefusal(r["class_id"], r["learner_id"], r["change_id"], r["at"]) for r in rows]

    def refusals_of(self, learner_id: int, limit: int = 200) -> list[DoorRefusal]:
        """The learner's latest refusals, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM admission_refusals WHERE learner_id = ? ORDER BY id DESC LIMIT ?",
            (learner_id, limit),
        ).fetchall()
        return [
            DoorRefusal(r["class_id"], r["learner_id"], r["change_id"], r["at"])
            for r in reversed(rows)
        ]

    def changes_after(self, position: int, limit: int = 500) -> list[AdmissionChange]:
        """The changes recorded after ``position`` (their id), oldest first (for those who
        follow the history: the webhook outbox)."""
        rows = self._db.execute(
            "SELECT * FROM admission_changes WHERE id > ? ORDER BY id LIMIT ?", (position, limit)
        )
        return [_change(r) for r in rows]

    def last_change_id(self) -> int:
        """The id of the newest change (0: none)."""
        return int(self._db.execute("SELECT MAX(id) FROM admission_changes").fetchone()[0] or 0)
