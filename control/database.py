"""The SQLite file: WAL, foreign keys, and ordered migrations applied at start."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

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


def connect(path: Path | str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    searchable(db)  # lists' searches fold Cyrillic case
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: an event is acknowledged on commit, so a commit must survive a power cut too
        # (one sync of the write-ahead log per transaction; the ledger batches).
        db.execute("PRAGMA synchronous = FULL")
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
