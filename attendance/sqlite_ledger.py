"""The ledger in SQLite: append-only (triggers refuse UPDATE and DELETE), idempotent by id."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from access.events import EventKind

from . import sqlite_digests
from .marks import ClassDigest
from .models import GENESIS, IncomingEvent, LedgerEvent, chain_hash
from .recovery import open_at_stop
from .sqlite_base import SqliteStore


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


class SqliteLedger(SqliteStore):
    """Appends events to per-class hash chains. An event is acknowledged once this returns."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        super().__init__(db, clock)
        self._recent = sqlite_digests.Recent()

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
            if not self._db.in_transaction:
                # The write lock before the heads are read: another connection (the media's
                # committer, the control plane's) appending at once would read the same head
                # and fork the chain. (A transaction already open on this connection has
                # written, so it holds the lock: sqlite3 opens one only at a write.)
                self._db.execute("BEGIN IMMEDIATE")
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

    def digests_of_classes(self, class_ids: Iterable[int], grace: float) -> dict[int, ClassDigest]:
        """Each class's digest (``marks.ClassDigest``) of its chain as it is: the one kept if
        it was drawn from that very chain (taken from memory if this ledger read or kept it
        lately), else drawn from the events (and not kept: this only reads; ``keep_digests``
        keeps them)."""
        return sqlite_digests.digests(
            self._db, class_ids, grace, self.events_of_classes, self._recent
        )[0]

    def keep_digests(self, class_ids: Iterable[int], grace: float) -> int:
        """Draw and keep the digest of each class whose kept one is not of its chain as it is
        (none yet, or more events came since); how many were drawn. It writes: not inside a
        read of one moment (``control.database.snapshot``)."""
        _all, drawn = sqlite_digests.digests(
            self._db, class_ids, grace, self.events_of_classes, self._recent, read_kept=False
        )
        if drawn and sqlite_digests.keep(self._db, drawn):
            self._recent.put(drawn)
        return len(drawn)

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
