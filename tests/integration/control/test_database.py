"""The database's migrations, applied once and in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from control.database import MIGRATIONS, connect, migrate


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "t.sqlite3")


def test_migrations_apply_once_in_order(db: sqlite3.Connection) -> None:
    assert migrate(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY position")]
    assert names == [n for n, _ in MIGRATIONS]
    db.execute("INSERT INTO schema_migrations VALUES ('zz_future', 999, 0)")
    db.commit()
    with pytest.raises(RuntimeError, match="newer Sabaq"):
        migrate(db)
