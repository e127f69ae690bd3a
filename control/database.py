"""The SQLite file: WAL, foreign keys, and ordered migrations applied at start."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from access.api_keys import MIGRATIONS as API_KEYS
from access.sqlite_audit import MIGRATIONS as AUDIT
from access.sqlite_search import searchable
from access.sqlite_store import MIGRATIONS as ACCESS
from admission.sqlite_migrations import MIGRATIONS as ADMISSION
from attendance.sqlite_migrations import MIGRATIONS as ATTENDANCE
from control.gate import MIGRATIONS as MEDIA_GATE
from control.idempotency import MIGRATIONS as IDEMPOTENCY
from control.mail import MIGRATIONS as MAIL
from control.notices import MIGRATIONS as NOTICES
from control.webhooks import MIGRATIONS as WEBHOOKS
from scheduler.sqlite_store import MIGRATIONS as SCHEDULER

# Packages in the order of DESIGN.md, each package's migrations in their own order.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    *ACCESS,
    *API_KEYS,
    *AUDIT,
    *SCHEDULER,
    *ADMISSION,
    *ATTENDANCE,
    *WEBHOOKS,
    *IDEMPOTENCY,
    *MEDIA_GATE,
    *MAIL,
    *NOTICES,
)


class PerThread(sqlite3.Connection):
    """A connection to a file that every thread uses as its own: on the thread that opened it,
    it is itself; on any other thread each call goes to that thread's own connection to the
    same file, opened on its first use (SQLite's rule: one connection per thread at a time).

    The application's stores share one such connection, so the work the event loop hands to
    worker threads (reports, exports, imports, background jobs) runs their stores unchanged,
    each thread in transactions of its own. An in-memory database (tests) has no file to open
    again: there every thread shares the one connection, as before."""

    def __init__(self, path: Path | str, *args: Any, **kwargs: Any) -> None:
        super().__init__(path, *args, **kwargs)
        self._path = str(path)
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._others: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def mine(self) -> sqlite3.Connection:
        """The connection this thread uses."""
        if threading.get_ident() == self._owner or self._path == ":memory:":
            return self
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _opened(sqlite3.connect(self._path, check_same_thread=False))
            with self._lock:
                self._others.append(db)
        return db

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if (db := self.mine()) is not self:
            return db.execute(sql, parameters)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        if (db := self.mine()) is not self:
            return db.executemany(sql, parameters)
        return super().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        if (db := self.mine()) is not self:
            return db.executescript(script)
        return super().executescript(script)

    def cursor(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        cur: sqlite3.Cursor
        if (db := self.mine()) is not self:
            cur = db.cursor(*args, **kwargs)
        else:
            cur = super().cursor(*args, **kwargs)
        return cur

    def commit(self) -> None:
        if (db := self.mine()) is not self:
            return db.commit()
        return super().commit()

    def rollback(self) -> None:
        if (db := self.mine()) is not self:
            return db.rollback()
        return super().rollback()

    @property
    def in_transaction(self) -> bool:
        if (db := self.mine()) is not self:
            return db.in_transaction
        return super().in_transaction

    def __enter__(self) -> PerThread:
        if (db := self.mine()) is not self:
            db.__enter__()
            return self
        return super().__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]:
        if (db := self.mine()) is not self:
            return db.__exit__(kind, exc, tb)
        return super().__exit__(kind, exc, tb)

    def close(self) -> None:
        """Closes every thread's connection (their threads are done with them by now)."""
        with self._lock:
            others, self._others = self._others, []
        for db in others:
            db.close()
        super().close()


@contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """What is read inside is read from one moment of the file (a read transaction on the
    calling thread's connection): a report's events and the chain heads it names agree even if
    the ledger commits meanwhile. Nothing may be written inside."""
    own = db.mine() if isinstance(db, PerThread) else db
    if own.in_transaction:  # already inside one: that one is the moment
        yield
        return
    own.execute("BEGIN")
    try:
        yield
    finally:
        own.commit()  # ends the read (and keeps what a careless caller wrote, as without it)


def _opened(db: sqlite3.Connection) -> sqlite3.Connection:
    """``db`` set up as every connection of the application is."""
    db.isolation_level = "DEFERRED"
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    searchable(db)  # lists' searches fold Cyrillic case
    db.execute("PRAGMA synchronous = FULL")
    return db


def connect(path: Path | str, per_thread: bool = False) -> sqlite3.Connection:
    """The file at ``path`` (``:memory:`` for a database of one connection), migrated; with
    ``per_thread`` a ``PerThread`` connection."""
    db = _opened(
        sqlite3.connect(
            path,
            check_same_thread=False,
            factory=PerThread if per_thread else sqlite3.Connection,
        )
    )
    if str(path) != ":memory:":
        # FULL (set in ``_opened``): an event is acknowledged on commit, so a commit must
        # survive a power cut too (one sync of the write-ahead log per transaction; the ledger
        # batches).
        db.execute("PRAGMA journal_mode = WAL")
    migrate(db)
    return db


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet applied, in order; returns their names."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (name TEXT PRIMARY KEY, position INTEGER NOT NULL, applied_at REAL NOT NULL)"
    )
    done = {r[0] for r in db.execute("SELECT name FROM schema_migrations")}
    known = {name for name, _ in MIGRATIONS}
    unknown = done - known
    if unknown:
        raise RuntimeError(
            f"The database has migrations this version does not know: {sorted(unknown)};"
            " it was written by a newer Sabaq"
        )
    applied = []
    for position, (name, sql) in enumerate(MIGRATIONS, start=1):
        if name in done:
            continue
        # executescript commits first; the migration and its record go in one transaction.
        db.executescript(
            "BEGIN;\n"
            + sql
            + f"\nINSERT INTO schema_migrations VALUES ('{name}', {position}, {time.time()});"
            + "\nCOMMIT;"
        )
        applied.append(name)
    return applied
