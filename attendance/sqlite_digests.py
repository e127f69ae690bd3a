"""The classes' digests (``marks.ClassDigest``) kept beside the ledger in SQLite, so that a
report over many classes reads one row a class instead of every event of each. A digest is
derived, never a record: it is read only while its class's chain is as it was drawn from (as
long, the same last event and head), and a version of ``marks.digest`` that drew it differently
is never read either; otherwise it is drawn anew from the events."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .marks import DIGEST_VERSION, ClassDigest, Mark, Override, digest
from .models import LedgerEvent
from .presence import Interval

log = logging.getLogger("sabaq.attendance.digests")

Chain = tuple[int, int, str]  # events, last seq, head
Events = Callable[[list[int]], Mapping[int, Sequence[LedgerEvent]]]
CHUNK = 500  # under SQLite's limit of bound parameters
RECENT = 256  # digests a process holds on to: a few groups' months


def _chunks(ids: Sequence[int]) -> Iterator[tuple[Sequence[int], str]]:
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def chains(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Chain]:
    """Each class's chain as it is now (classes without events left out)."""
    out: dict[int, Chain] = {}
    for chunk, marks in _chunks(ids):
        last = {
            c: (n, seq)
            for c, n, seq in db.execute(
                "SELECT class_id, COUNT(*), MAX(seq) FROM ledger_events"  # noqa: S608
                f" WHERE class_id IN ({marks}) GROUP BY class_id",
                chunk,
            )
        }
        seqs = [seq for _n, seq in last.values()]
        for seq_marks in _chunks(seqs):
            for c, h in db.execute(
                f"SELECT class_id, hash FROM ledger_events WHERE seq IN ({seq_marks[1]})",  # noqa: S608
                seq_marks[0],
            ):
                out[c] = (*last[c], h)
    return out


def dumps(d: ClassDigest) -> str:
    return json.dumps(
        {
            "s": d.started_at,
            "e": d.ended_at,
            "i": [[u, [t for i in ii for t in (i.start, i.end)]] for u, ii in d.intervals.items()],
            "o": [
                [u, o.mark.value, o.reason, o.by_user_id, o.by_name, o.at]
                for u, o in d.overrides.items()
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def loads(grace: float, chain: Chain, body: str) -> ClassDigest:
    doc: dict[str, Any] = json.loads(body)
    return ClassDigest(
        grace=grace,
        events=chain[0],
        last_seq=chain[1],
        head=chain[2],
        started_at=doc["s"],
        ended_at=doc["e"],
        intervals={u: tuple(map(Interval, t[::2], t[1::2])) for u, t in doc["i"]},
        overrides={
            u: Override(Mark(mark), reason, by, by_name, at)
            for u, mark, reason, by, by_name, at in doc["o"]
        },
    )


def _kept_rows(
    db: sqlite3.Connection, ids: Sequence[int], grace: float, body: bool
) -> Iterator[tuple[int, Chain, str]]:
    """The kept digests of these classes (of this version, this grace): class, chain, and the
    body when asked for ("" otherwise)."""
    column = "body" if body else "''"
    for chunk, marks in _chunks(ids):
        for c, n, seq, head, text in db.execute(
            f"SELECT class_id, events, last_seq, head, {column} FROM class_digests"  # noqa: S608
            f" WHERE class_id IN ({marks}) AND grace = ? AND version = ?",
            (*chunk, grace, DIGEST_VERSION),
        ):
            yield c, (n, seq, head), text


def kept(db: sqlite3.Connection, ids: Sequence[int], grace: float) -> dict[int, Chain]:
    """Of which chain each of these classes' kept digests is (of this version, this grace)."""
    return {c: chain for c, chain, _ in _kept_rows(db, ids, grace, body=False)}


def bodies(
    db: sqlite3.Connection, ids: Sequence[int], grace: float
) -> dict[int, tuple[Chain, str]]:
    """These classes' kept digests, each with the chain it is of."""
    return {c: (chain, text) for c, chain, text in _kept_rows(db, ids, grace, body=True)}


class Recent:
    """The kept digests this process read or kept last (at most ``size``), by class and grace:
    one still kept of the chain as it is is taken from here, not read and parsed again."""

    def __init__(self, size: int = RECENT) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._digests: dict[tuple[int, float], ClassDigest] = {}

    def get(self, class_id: int, grace: float, chain: Chain) -> ClassDigest | None:
        d = self._digests.get((class_id, grace))
        return d if d is not None and (d.events, d.last_seq, d.head) == chain else None

    def put(self, digests: Mapping[int, ClassDigest]) -> None:
        with self._lock:
            for c, d in digests.items():
                self._digests.pop((c, d.grace), None)
                self._digests[(c, d.grace)] = d
            while len(self._digests) > self._size:
                del self._digests[next(iter(self._digests))]


def digests(
    db: sqlite3.Connection,
    class_ids: Iterable[int],
    grace: float,
    events: Events,
    recent: Recent,
    read_kept: bool = True,
) -> tuple[dict[int, ClassDigest], dict[int, ClassDigest]]:
    """Each class's digest of its chain as it is, and those of them that were drawn anew from
    their ``events`` (none kept of the chain as it is: none at all, or one of a shorter chain).
    A kept one this process read before (``recent``) is not read again; none is read without
    ``read_kept`` (of those, only the ones drawn anew are given)."""
    ids = list(dict.fromkeys(class_ids))
    now, have = chains(db, ids), kept(db, ids, grace)
    out: dict[int, ClassDigest] = {}
    unread, stale = [], []
    for c in ids:
        chain = now.get(c)
        if chain is None:
            out[c] = ClassDigest(grace)  # no events: nothing to keep
        elif have.get(c) != chain:
            stale.append(c)
        elif not read_kept:
            continue
        elif (d := recent.get(c, grace, chain)) is not None:
            out[c] = d
        else:
            unread.append(c)
    found, read = bodies(db, unread, grace), {}
    for c in unread:
        k = found.get(c)
        if k is not None and k[0] == now[c]:
            read[c] = loads(grace, now[c], k[1])
        else:  # replaced meanwhile (read outside one moment of the database)
            stale.append(c)
    recent.put(read)
    drawn = {c: digest(evs, grace) for c, evs in events(stale).items()}
    out.update(read)
    out.update(drawn)
    return out, drawn


def keep(db: sqlite3.Connection, drawn: Mapping[int, ClassDigest]) -> bool:
    """Keep digests drawn anew, each of its class, in place of those kept before; False (nothing
    kept) if the database cannot take them at once. A digest is derived and a report keeps
    them before it reads (a page's GET): another writer holding the database (a backup, the
    ledger's commits), or a database that cannot be written, is not waited for nor a failure;
    the report reads the events instead."""
    waits = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute("PRAGMA busy_timeout = 0")
    try:
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO class_digests"
                " (class_id, grace, version, events, last_seq, head, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (c, d.grace, DIGEST_VERSION, d.events, d.last_seq, d.head, dumps(d))
                    for c, d in drawn.items()
                ],
            )
    except sqlite3.OperationalError as exc:  # locked, read-only, full
        log.warning("%d class digests not kept: %s", len(drawn), exc)
        return False
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(waits)}")
    return True
