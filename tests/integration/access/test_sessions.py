"""Sign-in sessions in a SQLite file expire."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from control.database import connect


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "t.sqlite3")


def test_sessions_expire(db: sqlite3.Connection) -> None:
    from access.models import Role
    from access.sqlite_store import SqliteAccounts

    accounts = SqliteAccounts(db)
    user = accounts.create_user(login="a.b", full_name="А Б", role=Role.STUDENT)
    token, _ = accounts.open_session(user.id, ttl=-1)
    assert accounts.session(token) is None
    token, _ = accounts.open_session(user.id)
    session = accounts.session(token)
    assert session is not None and session.user == user and session.expires_at > time.time()
    accounts.close_session(token)
    assert accounts.session(token) is None
