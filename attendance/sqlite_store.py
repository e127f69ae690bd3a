"""The ledger in SQLite: append-only (triggers refuse UPDATE and DELETE), idempotent by id."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from access.events import EventKind

from .marks import MarkRules
from .models import GENESIS, IncomingEvent, LedgerEvent, chain_hash
from .recovery import open_at_stop

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "attendance_0001_ledger",
        """
        CREATE TABLE ledger_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            class_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            user_id INTEGER,
            participant_id TEXT,
            role TEXT,
            node TEXT NOT NULL,
            node_seq INTEGER NOT NULL,
            origin_time REAL NOT NULL,
            received_time REAL NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX ledger_events_class ON ledger_events(class_id, seq);
        CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
        BEGIN SELECT RAISE(ABORT, 'the attendance ledger is append-only'); END;
        CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
        BEGIN SELECT RAISE(ABORT, 'the attendance ledger is append-only'); END;
        """,
    ),
    (
        "attendance_0002_node_heartbeats",
        """
        CREATE TABLE node_heartbeats (
            node TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL
        );
        """,
    ),
    (
        "attendance_0003_mark_rules",
        """
        -- Thresholds staff set; every change is a new row (who, when), the latest applies.
        CREATE TABLE mark_rules (
            id INTEGER PRIMARY KEY,
            late_after_seconds REAL NOT NULL,
            present_share REAL NOT NULL,
            by_user_id INTEGER,
            by_name TEXT NOT NULL,
            at REAL NOT NULL
        );
        """,
    ),
    (
        "attendance_0004_dead_events",
        """
        -- Events the ledger could not store after several tries, set aside so that the events
        -- behind them flow on: kept whole (JSON, escaped) with the error, for an administrator.
        CREATE TABLE dead_events (
            id TEXT PRIMARY KEY,
            class_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            node TEXT NOT NULL,
            origin_time REAL NOT NULL,
            event TEXT NOT NULL,
            error TEXT NOT NULL,
            at REAL NOT NULL
        );
        """,
    ),
)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    class_id: int
    seq: int
    reason: str


COLUMNS = (
    "seq, id, class_id, kind, user_id, participant_id, role, node, node_seq, origin_time,"
    " received_time, data, prev_hash, hash"
)
# Constant statements (the column list is ours, nothing of a caller's goes in).
BY_ID = f"SELECT {COLUMNS} FROM ledger_events WHERE id = ?"  # noqa: S608
BY_CLASS = f"SELECT {COLUMNS} FROM ledger_events WHERE class_id = ? ORDER BY seq"  # noqa: S608
_KINDS = {k.value: k for k in EventKind}
_EMPTY = "{}"


def _row(row: Sequence[Any]) -> LedgerEvent:
    """A stored event from a row of ``COLUMNS``, in order (reports read tens of thousands:
    positional access, and no JSON parse for the usual empty data)."""
    (seq, id_, class_id, kind, user_id, participant_id, role, node, node_seq, origin, received,
     data, prev_hash, hash_) = row  # fmt: skip
    ev = IncomingEvent(
        id=id_,
        kind=_KINDS[kind],
        class_id=class_id,
        node=node,
        node_seq=node_seq,
        origin_time=origin,
        user_id=user_id,
        participant_id=participant_id,
        role=role,
        data={} if data == _EMPTY else json.loads(data),
    )
    return LedgerEvent(seq=seq, event=ev, received_time=received, prev_hash=prev_hash, hash=hash_)


def _rows(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[LedgerEvent]:
    cur = db.cursor()
    cur.row_factory = None  # plain tuples
    return [_row(r) for r in cur.execute(sql, params)]


def _first_break(class_id: int, events: list[LedgerEvent]) -> ChainBreak | None:
    """The first link of a chain (from its start) that does not hold, or None."""
    prev = GENESIS
    for le in events:
        if le.prev_hash != prev:
            return ChainBreak(class_id, le.seq, "prev_hash does not match the previous event")
        if chain_hash(prev, le.event, le.received_time) != le.hash:
            return ChainBreak(class_id, le.seq, "hash does not match the event's content")
        prev = le.hash
    return None


class SqliteLedger:
    """Appends events to per-class hash chains. An event is acknowledged once this returns."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def now(self) -> float:
        """What time it is by the ledger's clock (the one its received times are taken by)."""
        return self._clock()

    def append(self, event: IncomingEvent) -> tuple[LedgerEvent, bool]:
        """Commit the event; returns it as stored and whether it was new.

        Ingesting an id a second time changes nothing and returns the stored event.
        """
        return self.append_many((event,))[0]

    def append_many(self, events: Iterable[IncomingEvent]) -> list[tuple[LedgerEvent, bool]]:
        """Commit a batch in one transaction (one sync to disk); each event as stored and
        whether it was new. Nothing of the batch is acknowledged unless all of it commits."""
        out: list[tuple[LedgerEvent, bool]] = []
        heads: dict[int, str] = {}
        with self._db:
            for event in events:
                existing = _rows(self._db, BY_ID, (event.id,))
                if existing:
                    out.append((existing[0], False))
                    continue
                prev = heads.get(event.class_id)
                if prev is None:
                    prev = self.head(event.class_id)
                event = replace(event, origin_time=round(float(event.origin_time), 6))
                received = round(float(self._clock()), 6)
                digest = chain_hash(prev, event, received)
                cur = self._db.execute(
                    "INSERT INTO ledger_events (id, class_id, kind, user_id, participant_id,"
                    " role, node, node_seq, origin_time, received_time, data, prev_hash, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.id,
                        event.class_id,
                        event.kind.value,
                        event.user_id,
                        event.participant_id,
                        event.role,
                        event.node,
                        event.node_seq,
                        event.origin_time,
                        received,
                        json.dumps(event.data, sort_keys=True, ensure_ascii=False),
                        prev,
                        digest,
                    ),
                )
                assert cur.lastrowid is not None
                heads[event.class_id] = digest
                out.append((LedgerEvent(cur.lastrowid, event, received, prev, digest), True))
        return out

    def events(self, class_id: int) -> list[LedgerEvent]:
        return _rows(
            self._db,
            BY_CLASS,
            (class_id,),
        )

    def events_of_classes(self, class_ids: Iterable[int]) -> dict[int, list[LedgerEvent]]:
        """Each class's chain, for many classes in one pass (reports over a month)."""
        out: dict[int, list[LedgerEvent]] = {c: [] for c in class_ids}
        ids = list(out)
        for start in range(0, len(ids), 500):  # under SQLite's limit of bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for le in _rows(
                self._db,
                f"SELECT {COLUMNS} FROM ledger_events WHERE class_id IN ({marks})"  # noqa: S608
                " ORDER BY class_id, seq",
                chunk,
            ):
                out[le.event.class_id].append(le)
        return out

    def head(self, class_id: int) -> str:
        row = self._db.execute(
            "SELECT hash FROM ledger_events WHERE class_id = ? ORDER BY seq DESC LIMIT 1",
            (class_id,),
        ).fetchone()
        return row[0] if row else GENESIS

    def verify(self, class_id: int) -> ChainBreak | None:
        """Recompute the class's chain; the first link that does not hold, or None."""
        return _first_break(class_id, self.events(class_id))

    def class_ids(self) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT class_id FROM ledger_events")]

    def verify_all(self) -> list[ChainBreak]:
        """Every class's chain; the first broken link of each chain that does not hold."""
        return [b for c in sorted(self.class_ids()) if (b := self.verify(c)) is not None]

    def chain_head(self, class_id: int) -> tuple[int, str]:
        """How many events the class's chain holds, and the hash of its last."""
        row = self._db.execute(
            "SELECT COUNT(*), (SELECT hash FROM ledger_events WHERE class_id = ?"
            " ORDER BY seq DESC LIMIT 1) FROM ledger_events WHERE class_id = ?",
            (class_id, class_id),
        ).fetchone()
        return int(row[0]), row[1] or GENESIS

    def unclosed_class_ids(self) -> list[int]:
        """Classes in which someone came in after the class last ended (or it never did):
        where presence may still be open."""
        rows = self._db.execute(
            "SELECT class_id FROM ledger_events GROUP BY class_id HAVING"
            " COALESCE(MAX(CASE WHEN kind IN ('joined', 'reconnected')"
            " AND json_extract(data, '$.ignored') IS NULL THEN seq END), 0)"
            " > COALESCE(MAX(CASE WHEN kind = 'class_ended'"
            " AND json_extract(data, '$.ignored') IS NULL THEN seq END), 0)"  # models.IGNORED
        )
        return [r[0] for r in rows]

    def close_after_stop(self, node: str, last_heartbeat: float | None) -> list[LedgerEvent]:
        """Close every interval ``node`` left open when it stopped abruptly, at its last
        heartbeat; returns the events appended (none on a second run)."""
        closing = [
            ev
            for class_id in self.unclosed_class_ids()
            for ev in open_at_stop(self.events(class_id), node, last_heartbeat)
        ]
        return [le for le, new in self.append_many(closing) if new]

    def heads_changed_between(self, start: float, end: float) -> list[tuple[int, int, str]]:
        """(class, count, head) as of ``end`` for every chain that received events in
        [start, end): what a daily digest publishes."""
        out = []
        classes = self._db.execute(
            "SELECT DISTINCT class_id FROM ledger_events"
            " WHERE received_time >= ? AND received_time < ? ORDER BY class_id",
            (start, end),
        ).fetchall()
        for (class_id,) in classes:
            last = self._db.execute(
                "SELECT MAX(seq) FROM ledger_events WHERE class_id = ? AND received_time < ?",
                (class_id, end),
            ).fetchone()[0]
            count, head = self._db.execute(
                "SELECT COUNT(*), (SELECT hash FROM ledger_events WHERE seq = ?)"
                " FROM ledger_events WHERE class_id = ? AND seq <= ?",
                (last, class_id, last),
            ).fetchone()
            out.append((class_id, int(count), str(head)))
        return out

    def first_received(self) -> float | None:
        row = self._db.execute("SELECT MIN(received_time) FROM ledger_events").fetchone()
        return None if row[0] is None else float(row[0])

    def check_head(self, class_id: int, count: int, head: str) -> str | None:
        """Whether a chain head published earlier (with a report, say) is in the chain as it is
        now, and the chain up to it holds; None if so, else why not."""
        events = self.events(class_id)
        if count > len(events):
            return (
                f"class {class_id}: the ledger holds {len(events)} events, the head names {count}"
            )
        if count == 0:
            return None if head == GENESIS else f"class {class_id}: an empty chain has no head"
        if events[count - 1].hash != head:
            return (
                f"class {class_id}: event {count} of the chain is not the one the head names"
                " — the ledger (or the report) was changed"
            )
        brk = _first_break(class_id, events[:count])
        if brk is not None:
            return f"class {class_id}: the chain breaks at event seq {brk.seq}: {brk.reason}"
        return None

    def events_after(self, seq: int, limit: int = 500) -> list[LedgerEvent]:
        """Events committed after ``seq``, in the order they were committed (for those who
        follow the ledger: the webhook outbox)."""
        return _rows(
            self._db,
            f"SELECT {COLUMNS} FROM ledger_events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
            (seq, limit),
        )

    def chain_length_at(self, class_id: int, seq: int) -> int:
        """How many events the class's chain held once event ``seq`` was committed."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM ledger_events WHERE class_id = ? AND seq <= ?", (class_id, seq)
        ).fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        """The seq of the newest event committed (0: none)."""
        return int(self._db.execute("SELECT MAX(seq) FROM ledger_events").fetchone()[0] or 0)


class SqliteHeartbeats:
    """The last heartbeat of each media node: operational facts, outside the hash chain."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def beat(self, node: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO node_heartbeats (node, started_at, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET last_seen = excluded.last_seen",
                (node, at, at),
            )

    def started(self, node: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO node_heartbeats (node, started_at, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET started_at = excluded.started_at,"
                " last_seen = excluded.last_seen",
                (node, at, at),
            )

    def last_seen(self, node: str) -> float | None:
        row = self._db.execute(
            "SELECT last_seen FROM node_heartbeats WHERE node = ?", (node,)
        ).fetchone()
        return None if row is None else float(row[0])


@dataclass(frozen=True, slots=True)
class DeadEvent:
    id: str
    class_id: int
    kind: str
    event: str  # the whole event as JSON
    error: str
    at: float


class SqliteDeadEvents:
    """Events set aside because the ledger refused them: outside the hash chain, never lost."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(
        self,
        event_id: str,
        class_id: int,
        kind: str,
        node: str,
        origin_time: float,
        doc: dict[str, Any],
        error: str,
        at: float,
    ) -> None:
        """Keep the event aside (a second time changes nothing). Every text is stored escaped,
        so what the ledger could not take (a lone surrogate) still fits here."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO dead_events (id, class_id, kind, node, origin_time, event,"
                " error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id.encode("utf-8", "backslashreplace").decode(),
                    class_id,
                    kind.encode("utf-8", "backslashreplace").decode(),
                    node.encode("utf-8", "backslashreplace").decode(),
                    origin_time,
                    json.dumps(doc, sort_keys=True, default=str),
                    error.encode("utf-8", "backslashreplace").decode(),
                    at,
                ),
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dead_events").fetchone()[0])

    def latest(self, limit: int = 20) -> list[DeadEvent]:
        rows = self._db.execute(
            "SELECT id, class_id, kind, event, error, at FROM dead_events ORDER BY at DESC LIMIT ?",
            (limit,),
        )
        return [DeadEvent(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class RulesChange:
    rules: MarkRules
    by_user_id: int | None
    by_name: str
    at: float


class SqliteMarkRules:
    """The thresholds marks are derived with: the defaults until staff change them; every
    change is kept, so a report can say which thresholds applied and who set them."""

    def __init__(self, db: sqlite3.Connection, defaults: MarkRules) -> None:
        self._db = db
        self._defaults = defaults

    def current(self) -> MarkRules:
        return self.at(math.inf)

    def at(self, moment: float) -> MarkRules:
        """The thresholds in force at ``moment``."""
        row = self._db.execute(
            "SELECT * FROM mark_rules WHERE at <= ? ORDER BY at DESC, id DESC LIMIT 1", (moment,)
        ).fetchone()
        if row is None:
            return self._defaults
        return MarkRules(
            late_after_seconds=row["late_after_seconds"],
            present_share=row["present_share"],
            grace_seconds=self._defaults.grace_seconds,
        )

    def set(self, rules: MarkRules, by_user_id: int | None, by_name: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO mark_rules (late_after_seconds, present_share, by_user_id, by_name,"
                " at) VALUES (?, ?, ?, ?, ?)",
                (rules.late_after_seconds, rules.present_share, by_user_id, by_name, at),
            )

    def history(self, limit: int = 20) -> list[RulesChange]:
        rows = self._db.execute("SELECT * FROM mark_rules ORDER BY id DESC LIMIT ?", (limit,))
        return [
            RulesChange(
                MarkRules(
                    late_after_seconds=r["late_after_seconds"],
                    present_share=r["present_share"],
                    grace_seconds=self._defaults.grace_seconds,
                ),
                r["by_user_id"],
                r["by_name"],
                r["at"],
            )
            for r in rows
        ]
