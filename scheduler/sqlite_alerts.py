"""The monthly guarantee's view in SQLite: live online classes by group and month, classes
whose end has passed, and the alerts of group-months the guarantee could not settle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .models import ClassFormat, ClassStatus, LiveClass, TimetableAction
from .planning import SABAQ
from .sqlite_base import dt, ts
from .sqlite_classes import SqliteClasses


@dataclass(frozen=True, slots=True)
class Alert:
    group_id: int
    month: str
    reason: str
    raised_at: float


class SqliteAlerts(SqliteClasses):
    def live_classes_summary(
        self, start: datetime, end: datetime, group_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, ClassStatus, datetime]]]:
        """group id → (class id, status, start) of its live online classes starting in
        [start, end), in time order; one query for every group."""
        wanted = set(group_ids)
        one = len(wanted) == 1
        rows = self._db.execute(
            "SELECT c.id, c.status, c.starts_at, cg.group_id FROM classes c"
            " JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE c.starts_at >= ? AND c.starts_at < ? AND +c.format = ?"
            " AND (? OR cg.group_id = ?)"
            " AND NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)"
            " ORDER BY c.starts_at, c.id",
            (
                ts(start),
                ts(end),
                ClassFormat.LIVE_ONLINE.value,
                int(not one),
                next(iter(wanted)) if one else 0,
            ),
        )
        out: dict[int, list[tuple[int, ClassStatus, datetime]]] = {}
        for cid, status, starts, gid in rows:
            if gid in wanted:
                out.setdefault(gid, []).append((cid, ClassStatus(status), dt(starts)))
        return out

    def groups_with_live_class(
        self, start: datetime, end: datetime, statuses: frozenset[ClassStatus]
    ) -> set[int]:
        """Groups with a live online class (not an individual one) in one of ``statuses``
        starting in [start, end)."""
        rows = self._db.execute(
            "SELECT DISTINCT cg.group_id FROM classes c"  # noqa: S608
            " JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE c.starts_at >= ? AND c.starts_at < ? AND +c.format = ?"
            f" AND +c.status IN ({','.join('?' * len(statuses))})"
            " AND NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)",
            (ts(start), ts(end), ClassFormat.LIVE_ONLINE.value, *(s.value for s in statuses)),
        )
        return {r[0] for r in rows}

    def live_before(self, moment: datetime) -> list[LiveClass]:
        """Classes still live whose scheduled end was before ``moment``."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE status = ? AND ends_at <= ? ORDER BY ends_at, id",
            (ClassStatus.LIVE.value, ts(moment)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def planned_before(self, moment: datetime) -> list[LiveClass]:
        """Classes still planned whose end has passed."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE status = ? AND ends_at <= ? ORDER BY ends_at, id",
            (ClassStatus.PLANNED.value, ts(moment)),
        )
        return [self._class(r) for r in rows.fetchall()]

    # -- alerts -------------------------------------------------------------------------------
    def open_alerts(self, group_ids: Sequence[int] | None = None) -> dict[tuple[int, str], str]:
        """(group id, month) → reason of every alert not cleared."""
        rows = self._db.execute(
            "SELECT group_id, month, reason FROM guarantee_alerts WHERE cleared_at IS NULL"
        )
        wanted = set(group_ids) if group_ids is not None else None
        return {(g, m): r for g, m, r in rows.fetchall() if wanted is None or g in wanted}

    def alerts(self) -> list[Alert]:
        rows = self._db.execute(
            "SELECT group_id, month, reason, raised_at FROM guarantee_alerts"
            " WHERE cleared_at IS NULL ORDER BY month, group_id"
        )
        return [Alert(*r) for r in rows.fetchall()]

    def raise_alert(self, group_id: int, month: str, reason: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE guarantee_alerts SET cleared_at = ? WHERE group_id = ? AND month = ?"
                " AND cleared_at IS NULL",
                (at, group_id, month),
            )
            self._db.execute(
                "INSERT INTO guarantee_alerts (group_id, month, reason, raised_at)"
                " VALUES (?, ?, ?, ?)",
                (group_id, month, reason, at),
            )
            self._log(at, TimetableAction.ALERT, SABAQ, None, group_id, f"{reason}:{month}")

    def clear_alert(self, group_id: int, month: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE guarantee_alerts SET cleared_at = ? WHERE group_id = ? AND month = ?"
                " AND cleared_at IS NULL",
                (at, group_id, month),
            )
