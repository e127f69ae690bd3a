"""The introduction taken (clause 5) in SQLite: one row per learner and step, the first time
it was taken; taking a step again changes nothing."""

from __future__ import annotations

from collections.abc import Iterable

from .introduction import Introduction, Step
from .sqlite_base import SqliteStore


class SqliteIntroduction(SqliteStore):
    def record(self, user_id: int, step: Step, at: float) -> bool:
        """Record that ``user_id`` took ``step`` at ``at``; ``False`` if it was taken before
        (the first time stays)."""
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO introduction_steps (user_id, step, at) VALUES (?, ?, ?)",
                (user_id, step.value, at),
            )
        return cur.rowcount == 1

    def of(self, user_id: int) -> Introduction:
        return self.of_many([user_id])[user_id]

    def of_many(self, user_ids: Iterable[int]) -> dict[int, Introduction]:
        ids = sorted(set(user_ids))
        taken: dict[int, dict[Step, float]] = {i: {} for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only
            rows = self._db.execute(
                f"SELECT user_id, step, at FROM introduction_steps WHERE user_id IN ({marks})",  # noqa: S608
                chunk,
            )
            for r in rows:
                taken[r["user_id"]][Step(r["step"])] = r["at"]
        return {i: Introduction(t) for i, t in taken.items()}
