"""Events the ledger could not store, set aside in SQLite for an administrator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .sqlite_base import SqliteStore


@dataclass(frozen=True, slots=True)
class DeadEvent:
    id: str
    class_id: int
    kind: str
    event: str  # the whole event as JSON
    error: str
    at: float


class SqliteDeadEvents(SqliteStore):
    """Events set aside because the ledger refused them: outside the hash chain, never lost."""

    def add(
        self,
        event_id: str,
        class_id: int,
        kind: str,
        node: str,
        origin_time: float,
        doc: dict[str, Any],
        error: str,
        at: float,
    ) -> None:
        """Keep the event aside (a second time changes nothing). Every text is stored escaped,
        so what the ledger could not take (a lone surrogate) still fits here."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO dead_events (id, class_id, kind, node, origin_time, event,"
                " error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id.encode("utf-8", "backslashreplace").decode(),
                    class_id,
                    kind.encode("utf-8", "backslashreplace").decode(),
                    node.encode("utf-8", "backslashreplace").decode(),
                    origin_time,
                    json.dumps(doc, sort_keys=True, default=str),
                    error.encode("utf-8", "backslashreplace").decode(),
                    at,
                ),
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dead_events").fetchone()[0])

    def latest(self, limit: int = 20) -> list[DeadEvent]:
        rows = self._db.execute(
            "SELECT id, class_id, kind, event, error, at FROM dead_events ORDER BY at DESC LIMIT ?",
            (limit,),
        )
        return [DeadEvent(*r) for r in rows]
