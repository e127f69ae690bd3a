"""The classes' digests (``marks.ClassDigest``) kept beside the ledger in SQLite, so that a
report over many classes reads one row a class instead of every event of each. A digest is
derived, never a record: it is read only while its class's chain is as it was drawn from (as
long, the same last event and head), and a version of ``marks.digest`` that drew it differently
is never read either; otherwise it is drawn anew from the events."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .marks import DIGEST_VERSION, ClassDigest, Mark, Override, digest
from .models import LedgerEvent
from .presence import Interval

Chain = tuple[int, int, str]  # events, last seq, head
Events = Callable[[list[int]], Mapping[int, Sequence[LedgerEvent]]]
CHUNK = 500  # under SQLite's limit of bound parameters


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


def kept(db: sqlite3.Connection, ids: Sequence[int], grace: float) -> dict[int, tuple[Chain, str]]:
    """The digests kept of these classes, by this version, with this grace."""
    out: dict[int, tuple[Chain, str]] = {}
    for chunk, marks in _chunks(ids):
        for c, n, seq, head, body in db.execute(
            "SELECT class_id, events, last_seq, head, body FROM class_digests"  # noqa: S608
            f" WHERE class_id IN ({marks}) AND grace = ? AND version = ?",
            (*chunk, grace, DIGEST_VERSION),
        ):
            out[c] = ((n, seq, head), body)
    return out


def digests(
    db: sqlite3.Connection, class_ids: Iterable[int], grace: float, events: Events
) -> tuple[dict[int, ClassDigest], dict[int, ClassDigest]]:
    """Each class's digest of its chain as it is, and those of them that were drawn anew from
    their ``events`` (none kept, or kept of a shorter chain)."""
    ids = list(dict.fromkeys(class_ids))
    now, have = chains(db, ids), kept(db, ids, grace)
    out: dict[int, ClassDigest] = {}
    stale = []
    for c in ids:
        chain = now.get(c)
        if chain is None:
            out[c] = ClassDigest(grace)  # no events: nothing to keep
        elif (k := have.get(c)) is not None and k[0] == chain:
            out[c] = loads(grace, chain, k[1])
        else:
            stale.append(c)
    drawn = {c: digest(evs, grace) for c, evs in events(stale).items()}
    out.update(drawn)
    return out, drawn


def keep(db: sqlite3.Connection, drawn: Mapping[int, ClassDigest]) -> None:
    """Keep digests drawn anew, each of its class, in place of those kept before."""
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
