"""What admission's SQLite stores share: one connection and the clock."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


class SqliteStore:
    """A store over the academy's connection; ``clock`` says what "now" is. Every write of
    admission's stores is given its time by the caller (who reads the same clock)."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
