"""The mark thresholds' history in SQLite: the latest change applies from its time on."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from access.audit import Action, Actor, ObjectKind, changed
from access.sqlite_audit import now_record, write

from .marks import MarkRules
from .sqlite_base import SqliteStore


@dataclass(frozen=True, slots=True)
class RulesChange:
    rules: MarkRules
    by_user_id: int | None
    by_name: str
    at: float


def _fields(rules: MarkRules) -> dict[str, float]:
    """The thresholds as staff give them (minutes, percent)."""
    return {
        "late_after_minutes": round(rules.late_after_seconds / 60, 2),
        "present_percent": round(rules.present_share * 100, 2),
    }


class SqliteMarkRules(SqliteStore):
    """The thresholds marks are derived with: the defaults until staff change them; every
    change is kept, so a report can say which thresholds applied and who set them."""

    def __init__(
        self, db: sqlite3.Connection, defaults: MarkRules, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(db, clock)
        self._defaults = defaults

    @property
    def grace_seconds(self) -> float:
        """The reconnection grace every thresholds' change keeps (the defaults')."""
        return self._defaults.grace_seconds

    def current(self) -> MarkRules:
        return self.at(math.inf)

    def at(self, moment: float) -> MarkRules:
        """The thresholds in force at ``moment``."""
        row = self._db.execute(
            "SELECT * FROM mark_rules WHERE at <= ? ORDER BY at DESC, id DESC LIMIT 1", (moment,)
        ).fetchone()
        if row is None:
            return self._defaults
        return MarkRules(
            late_after_seconds=row["late_after_seconds"],
            present_share=row["present_share"],
            grace_seconds=self._defaults.grace_seconds,
        )

    def set(
        self,
        rules: MarkRules,
        by_user_id: int | None,
        by_name: str,
        at: float,
        actor: Actor | None = None,
    ) -> None:
        """New thresholds from ``at``; with ``actor``, the change of the academy's settings
        is recorded in the audit trail in the same transaction (none if nothing changed)."""
        with self._db:
            old, new = changed(_fields(self.current()), _fields(rules))
            self._db.execute(
                "INSERT INTO mark_rules (late_after_seconds, present_share, by_user_id, by_name,"
                " at) VALUES (?, ?, ?, ?, ?)",
                (rules.late_after_seconds, rules.present_share, by_user_id, by_name, at),
            )
            if actor is not None and new:
                write(self._db, now_record(
                    self._clock, actor, Action.CHANGED, ObjectKind.SETTINGS, None, old, new,
                    "attendance thresholds",
                ))  # fmt: skip

    def history(self, limit: int = 20) -> list[RulesChange]:
        rows = self._db.execute("SELECT * FROM mark_rules ORDER BY id DESC LIMIT ?", (limit,))
        return [
            RulesChange(
                MarkRules(
                    late_after_seconds=r["late_after_seconds"],
                    present_share=r["present_share"],
                    grace_seconds=self._defaults.grace_seconds,
                ),
                r["by_user_id"],
                r["by_name"],
                r["at"],
            )
            for r in rows
        ]
