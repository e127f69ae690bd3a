"""The database's migrations, applied once and in order; one connection per thread; a read
of one moment."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from control.database import MIGRATIONS, PerThread, connect, migrate, snapshot


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


@pytest.mark.timeout(30)
def test_each_thread_uses_a_connection_of_its_own(tmp_path: Path) -> None:
    shared = connect(tmp_path / "t.sqlite3", per_thread=True)
    assert isinstance(shared, PerThread) and shared.mine() is shared
    shared.execute("CREATE TABLE t (n INTEGER)")
    shared.commit()

    def write(n: int) -> tuple[int, bool]:
        with shared:  # a transaction of this thread's connection
            shared.execute("INSERT INTO t VALUES (?)", (n,))
            inside = shared.in_transaction
        return id(shared.mine()), inside

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(write, range(10)))
    assert all(inside for _, inside in answers)
    assert id(shared) not in {conn for conn, _ in answers}
    assert not shared.in_transaction  # the threads' transactions were theirs
    assert [r[0] for r in shared.execute("SELECT n FROM t ORDER BY n")] == list(range(10))
    shared.close()  # and every thread's connection with it


@pytest.mark.timeout(30)
def test_a_snapshot_reads_one_moment(tmp_path: Path) -> None:
    reader = connect(tmp_path / "t.sqlite3", per_thread=True)
    writer = connect(tmp_path / "t.sqlite3")
    writer.execute("CREATE TABLE t (n INTEGER)")
    writer.commit()
    with snapshot(reader):
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
        with writer:
            writer.execute("INSERT INTO t VALUES (1)")
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    assert not reader.in_transaction
