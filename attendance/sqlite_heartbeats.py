"""The media nodes' last heartbeats in SQLite."""

from __future__ import annotations

from .sqlite_base import SqliteStore


class SqliteHeartbeats(SqliteStore):
    """The last heartbeat of each media node: operational facts, outside the hash chain."""

    def beat(self, node: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO node_heartbeats (node, started_at, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET last_seen = excluded.last_seen",
                (node, at, at),
            )

    def started(self, node: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO node_heartbeats (node, started_at, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET started_at = excluded.started_at,"
                " last_seen = excluded.last_seen",
                (node, at, at),
            )

    def last_seen(self, node: str) -> float | None:
        row = self._db.execute(
            "SELECT last_seen FROM node_heartbeats WHERE node = ?", (node,)
        ).fetchone()
        return None if row is None else float(row[0])
