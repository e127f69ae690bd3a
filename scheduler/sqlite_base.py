"""What the scheduler's SQLite stores share: one connection, the clock, and how rows and times
are read and written."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .models import Programme, ProgrammeKind


class SqliteStore:
    """A store over the academy's connection; ``clock`` says what "now" is (histories' times,
    the past a switch leaves alone)."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock


def programme_of(row: sqlite3.Row) -> Programme:
    """A row of ``programmes`` as a programme."""
    return Programme(
        id=row["id"],
        name=row["name"],
        kind=ProgrammeKind(row["kind"]),
        institute_id=row["institute_id"],
        distance=bool(row["distance"]),
    )


def ts(dt: datetime) -> str:
    """A moment as the tables keep it: ISO 8601 in UTC."""
    return dt.astimezone(UTC).isoformat()


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
