"""The ledger in a SQLite file: idempotent, chained, append-only; presence read from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from access.events import EventKind
from access.ids import uuid7
from attendance.models import IncomingEvent
from attendance.presence import held, intervals_by_user, seconds_present
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect


def _event(kind: EventKind, user: int | None, t: float, class_id: int = 1) -> IncomingEvent:
    return IncomingEvent(
        id=str(uuid7()), kind=kind, class_id=class_id, node="n", node_seq=0, origin_time=t,
        user_id=user, role="learner",
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "t.sqlite3")


def test_ledger_is_idempotent_chained_and_append_only(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    e1 = _event(EventKind.JOINED, 5, 100.0)
    first, new = ledger.append(e1)
    again, new_again = ledger.append(e1)
    assert new and not new_again and again == first
    ledger.append(_event(EventKind.LEFT, 5, 160.0))
    ledger.append(_event(EventKind.JOINED, 9, 100.0, class_id=2))
    assert len(ledger.events(1)) == 2
    assert ledger.events(1)[1].prev_hash == first.hash
    assert ledger.verify(1) is None
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE ledger_events SET origin_time = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM ledger_events")


def test_ledger_verify_names_the_first_broken_link(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    for t in (1.0, 2.0, 3.0):
        ledger.append(_event(EventKind.JOINED, 5, t))
    # Whoever holds the file drops the triggers and rewrites history...
    db.executescript(
        "DROP TRIGGER ledger_events_no_update;"
        "UPDATE ledger_events SET origin_time = 99 WHERE seq = 2;"
    )
    broken = ledger.verify(1)
    assert broken is not None and broken.seq == 2 and "content" in broken.reason


def test_report_lists_absentees_and_merges_second_tabs(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    for ev in [
        _event(EventKind.JOINED, 1, 0.0),
        _event(EventKind.JOINED, 1, 10.0),  # a second tab: not a second person
        _event(EventKind.LEFT, 1, 600.0),
        _event(EventKind.JOINED, 2, 60.0),
        _event(EventKind.CLASS_ENDED, None, 1200.0),
    ]:
        ledger.append(ev)
    rows = intervals_by_user(ledger.events(1))
    assert [(i.start, i.end) for i in rows[1]] == [(0.0, 600.0)]
    assert rows[2][-1].end == 1200.0  # closed by the class's end, not left running
    assert seconds_present(rows[2], now=5000.0) == 1140.0
    assert 3 not in rows
    events = ledger.events(1)
    assert held(events, [1, 2, 3], [1], min_live_seconds=600, now=2000.0)
    assert not held(events, [1, 2, 3], [1], min_live_seconds=601, now=2000.0)
    assert not held(events, [3], [1], min_live_seconds=1, now=2000.0)
    # Two hosts (the teacher and a presenting guest) there at once count that time once:
    # user 1 from 0 to 600 and user 2 from 60 to 1200 make 1200 s, not 1740.
    assert held(events, [1], [1, 2], min_live_seconds=1200, now=2000.0)
    assert not held(events, [1], [1, 2], min_live_seconds=1201, now=2000.0)
