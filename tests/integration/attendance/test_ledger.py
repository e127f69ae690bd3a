"""The ledger in a SQLite file: idempotent, chained, append-only; presence read from it."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from access.events import EventKind
from access.ids import uuid7
from attendance.mark_forms import Correction, correction_event
from attendance.marks import ClassDigest, Mark, MarkRules, class_marks, digest, digest_marks
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


def _class_events(rng: random.Random, class_id: int) -> list[IncomingEvent]:
    """A class of eight learners doing what the marks tell apart: late, leaving early, drops
    back within the grace and after it, removal, a second tab, a return after the end, a
    staff correction, and events a dead node sent (kept, not counted)."""
    out = [
        _event(EventKind.CLASS_STARTED, None, rng.uniform(0, 120), class_id),
        _event(EventKind.CLASS_ENDED, None, 3600 + rng.uniform(-120, 60), class_id),
    ]
    for uid in range(1, 9):
        t = rng.choice((rng.uniform(-60, 300), rng.uniform(700, 1500)))
        out.append(_event(EventKind.JOINED, uid, t, class_id))
        for _ in range(rng.randrange(4)):
            t += rng.uniform(60, 900)
            kind = rng.choice((EventKind.DISCONNECTED, EventKind.LEFT, EventKind.JOINED))
            out.append(_event(kind, uid, t, class_id))
            t += rng.choice((rng.uniform(5, 50), rng.uniform(120, 600)))
            out.append(_event(EventKind.RECONNECTED, uid, t, class_id))
        closing = rng.choice((EventKind.LEFT, EventKind.REMOVED, EventKind.DISCONNECTED))
        out.append(_event(closing, uid, rng.uniform(t, 3700), class_id))
    dead = _event(EventKind.LEFT, 1, 100.0, class_id)
    out.append(replace(dead, data={"ignored": "node_declared_dead"}))
    out.sort(key=lambda e: e.origin_time)
    fix = Correction(2, Mark.EXCUSED, "a note from the doctor")
    out.append(correction_event(class_id, fix, 7, "Staff", 4000.0))
    out.append(_event(EventKind.JOINED, 3, 3900.0, class_id))  # back after the end
    return out


def test_a_class_digest_kept_beside_the_ledger_is_read_while_its_chain_is_as_drawn(
    db: sqlite3.Connection,
) -> None:
    """Reports read each class's digest kept beside the ledger instead of its events: the
    same digest (so the same marks) as the events give, read only while the chain is as it
    was drawn from; a class whose chain grew is drawn anew."""
    ledger, rng, grace = SqliteLedger(db), random.Random(24), MarkRules().grace_seconds
    for class_id in (1, 2, 3):
        ledger.append_many(_class_events(rng, class_id))
    ids = [1, 2, 3, 4]  # 4 has no events

    def drawn() -> dict[int, ClassDigest]:
        return {c: digest(ledger.events(c), grace) for c in ids}

    before = drawn()
    assert ledger.digests_of_classes(ids, grace) == before  # none kept: drawn, not written
    assert db.execute("SELECT COUNT(*) FROM class_digests").fetchone()[0] == 0
    assert ledger.keep_digests(ids, grace) == 3
    assert ledger.keep_digests(ids, grace) == 0  # kept, each of its chain as it is
    kept = SqliteLedger(db).digests_of_classes(ids, grace)  # read from the rows kept
    assert kept == before and ledger.digests_of_classes(ids, grace) == before  # or remembered
    for c in ids:  # the marks the events give, whatever the moment (during the class or after)
        for now in (1800.0, 5000.0):
            assert digest_marks(range(1, 10), kept[c], 0, 3600, now, MarkRules()) == class_marks(
                range(1, 10), ledger.events(c), 0, 3600, now
            )
    ledger.append(_event(EventKind.JOINED, 9, 4500.0, class_id=2))  # after the digests were kept
    grown = ledger.digests_of_classes(ids, grace)
    assert grown == drawn() and grown[2] != before[2] and 9 in grown[2].intervals
    assert ledger.keep_digests(ids, grace) == 1
    # A digest kept by another version of ``digest``, or drawn with another grace, is not read;
    # nor is one a process remembers once its row is gone.
    db.execute("UPDATE class_digests SET version = version - 1 WHERE class_id = 1")
    assert ledger.keep_digests(ids, grace) == 1
    db.execute("DELETE FROM class_digests WHERE class_id = 3")
    db.execute(
        "CREATE TEMP TRIGGER keep_none BEFORE INSERT ON class_digests"
        " BEGIN SELECT RAISE(IGNORE); END"
    )
    assert ledger.keep_digests(ids, grace) == 1 and ledger.keep_digests(ids, grace) == 1
    assert ledger.digests_of_classes(ids, grace) == drawn()
    assert ledger.digests_of_classes([1], 0.0)[1] == digest(ledger.events(1), 0.0)
    with pytest.raises(ValueError, match="grace"):
        digest_marks([1], kept[1], 0, 3600, 5000.0, MarkRules(grace_seconds=0.0))
