"""The database file from outside a running Sabaq (``sabaq verify``, ``sabaq backup``): opened to
be read and checked only (``read_only``: no migration, no WAL checkpoint), its ledger's chains
verified (``verify``), and copied while Sabaq runs (``copy``: SQLite's online backup, the
write-ahead log included, checked before it is put in place)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attendance.export import ChainHead
from attendance.sqlite_ledger import SqliteLedger


def read_only(path: Path) -> sqlite3.Connection:
    """The database at ``path`` for reading: checking must not change what it checks."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def verify(db: sqlite3.Connection, heads: Sequence[ChainHead]) -> tuple[int, list[str]]:
    """The command's exit status (0: all agree, 1: not) and its lines: each of ``heads`` (a
    report's) checked against the ledger, or without any, every class's chain verified."""
    ledger = SqliteLedger(db)
    if heads:
        problems = [p for h in heads if (p := ledger.check_head(h.class_id, h.count, h.hash))]
        if problems:
            return 1, [f"MISMATCH {problem}" for problem in problems]
        return 0, [f"The report agrees with the ledger: {len(heads)} chain head(s) verified."]
    breaks = ledger.verify_all()
    if breaks:
        return 1, [
            f"BROKEN class {b.class_id}: first broken link at event seq {b.seq}: {b.reason}"
            for b in breaks
        ]
    return 0, [f"All {len(ledger.class_ids())} class chain(s) verified; no link is broken."]


@dataclass(frozen=True, slots=True)
class Copied:
    size: int  # bytes
    events: int  # in the ledger


class CopyFailed(Exception):
    """The copy was not made (nothing is left at its place); ``status`` is the command's exit
    status: 1 when the copy failed its integrity check, 2 when the database cannot be read."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def copy(source: Path, dest: Path) -> Copied:
    """A consistent copy of ``source`` at ``dest`` (a new file), checked before it is there."""
    partial = dest.with_name(f".{dest.name}.partial")
    src = sqlite3.connect(source, timeout=30)
    try:
        out = sqlite3.connect(partial)
        try:
            src.backup(out, pages=1024)  # in steps: Sabaq's writers wait only for one step
            checked = out.execute("PRAGMA integrity_check").fetchone()[0]
            events = out.execute("SELECT COUNT(*) FROM ledger_events").fetchone()[0]
        finally:
            out.close()
        if checked != "ok":
            partial.unlink(missing_ok=True)
            raise CopyFailed(f"the copy failed its integrity check: {checked}", 1)
        partial.rename(dest)
    except sqlite3.DatabaseError as exc:
        partial.unlink(missing_ok=True)
        raise CopyFailed(f"the database cannot be copied: {exc}", 2) from None
    finally:
        src.close()
    return Copied(dest.stat().st_size, events)
