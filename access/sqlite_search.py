"""Searching lists in SQLite, the same way for every store: a case-insensitive "contains" that
folds Cyrillic too (SQLite's ``lower()`` and ``LIKE`` fold ASCII only, so "иван" would miss
"Иван"), with ``%``, ``_`` and ``\\`` in what was typed matched literally."""

from __future__ import annotations

import sqlite3

MAX_SEARCH = 100  # characters of a search that count
FOLD = "sabaq_fold"


def _fold(text: str | None) -> str | None:
    return text.casefold() if text else text


def searchable(db: sqlite3.Connection) -> None:
    """Give ``db`` the folding function the clauses here use, unless it has it (the academy's
    connection has it from the start: ``control.database.connect``)."""
    try:
        db.execute(f"SELECT {FOLD}('')").fetchone()
    except sqlite3.OperationalError:
        db.create_function(FOLD, 1, _fold, deterministic=True)


def like(text: str) -> str:
    """The ``LIKE`` pattern of "contains ``text``", folded, its wildcards escaped."""
    cut = text.strip()[:MAX_SEARCH]
    escaped = cut.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{_fold(escaped) or ''}%"


def contains(*columns: str) -> str:
    """A clause true when any of ``columns`` contains the search: bind ``like(search)`` once
    for each column."""
    return "(" + " OR ".join(matches(c) for c in columns) + ")"


def matches(column: str) -> str:
    """A clause true when ``column`` contains the search (bind ``like(search)``)."""
    return f"{FOLD}({column}) LIKE ? ESCAPE '\\'"
