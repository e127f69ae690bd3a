"""The attendance ledger on a real SQLite file: ingest rate, and a group's month report.

Both run against a file in a temporary directory opened with ``web.database.connect`` (WAL,
``synchronous=FULL``), so every commit is synced to disk before it returns.

1. Ingest. Events of many concurrent classes (each learner joins, drops and comes back, leaves),
   interleaved in time as a media node reports them, go into a fresh ledger per row:
   ``append`` one event per transaction (the baseline, on ``--single`` events), then
   ``append_many`` in batches of each ``--batch`` size, one transaction per batch, over
   ``--events`` events (at most ``--single`` transactions a row, so a batch of 1 stays short).
   The replay row ingests the largest batch row's events a second time: nothing new, no row
   added. Every ledger's chains are then recomputed with ``verify_all`` and must hold.

2. Report. A group of ``--learners`` learners in ``--classes`` classes: the web layer's build
   (``digests_of_classes``: each class's digest kept beside the ledger, one row a class, checked
   against its chain; then ``marks_by_class``, ``matrix``, CSV) — the digests remembered by
   the process that read them before, and read from their rows as by a process that has not —
   against the previous build (every event of the classes in one SQL pass,
   ``events_of_classes``, the digests drawn from them) and the one before it (each class's
   events by one query), interleaved over ``--runs`` runs after one warm-up run of each, all
   giving the same CSV. The digests are kept once before (timed apart), as the page keeps them
   before it reads (``keep_digests``).

    .venv/bin/python -m bench.ledger --events 100000 --batch 1,100,1000
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from access.events import EventKind
from access.ids import uuid7
from attendance.export import ChainHead, Table, to_csv
from attendance.marks import ClassDigest, MarkRules, digest
from attendance.models import GENESIS, IncomingEvent, LedgerEvent
from attendance.reports import ClassSlot, marks_by_class, matrix
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect

INGEST_TARGET = 20_000  # events/s, batched, durable on commit
REPORT_TARGET = 0.150  # seconds p95 for a group's month, CSV included (issue 24, item 4)
CLASS_LENGTH = 90 * 60.0
NODE = "media-1"
TEACHER = 1_000_000


@dataclass(frozen=True, slots=True)
class Happening:
    """An event before the node gives it an id and a sequence number."""

    at: float
    kind: EventKind
    class_id: int
    user_id: int
    role: str


def _learner(
    rng: random.Random, class_id: int, uid: int, start: float, end: float
) -> list[Happening]:
    """One learner's events in a class: most come on time, some late, some leave early, most
    drop out and come back a few times (briefly, or for minutes), a few never come."""
    r = rng.random()
    if r < 0.08:
        return []  # absent
    joined = start + (rng.uniform(15, 30) if r < 0.2 else rng.uniform(-5, 4)) * 60
    if rng.random() < 0.15:
        leaves = start + CLASS_LENGTH * rng.uniform(0.4, 0.75)  # leaves early
    elif rng.random() < 0.5:
        leaves = end - rng.uniform(0, 180)  # the last minutes
    else:
        leaves = end + rng.uniform(1, 30)  # after the teacher ends the class
    out = [Happening(joined, EventKind.JOINED, class_id, uid, "learner")]
    at = joined
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        drop = at + rng.uniform(60, 1200)
        back = drop + (rng.uniform(5, 50) if rng.random() < 0.7 else rng.uniform(120, 600))
        if back >= leaves - 60:
            break
        out.append(Happening(drop, EventKind.DISCONNECTED, class_id, uid, "learner"))
        out.append(Happening(back, EventKind.RECONNECTED, class_id, uid, "learner"))
        at = back
    out.append(Happening(leaves, EventKind.LEFT, class_id, uid, "learner"))
    return out


def class_happenings(
    rng: random.Random, class_id: int, learner_ids: Sequence[int], start: float
) -> list[Happening]:
    """A whole class: the teacher goes live, the learners come and go, the teacher ends it."""
    end = start + CLASS_LENGTH
    started = start + rng.uniform(0, 120)
    ended = end + rng.uniform(-120, 60)
    out = [
        Happening(start - 60, EventKind.JOINED, class_id, TEACHER, "host"),
        Happening(started, EventKind.CLASS_STARTED, class_id, TEACHER, "host"),
        Happening(ended, EventKind.CLASS_ENDED, class_id, TEACHER, "host"),
        Happening(ended + 5, EventKind.LEFT, class_id, TEACHER, "host"),
    ]
    for uid in learner_ids:
        out.extend(_learner(rng, class_id, uid, start, end))
    return out


def stamp(happenings: list[Happening], first_seq: int = 0) -> list[IncomingEvent]:
    """In time order, as one node reports them: a fresh id and the next sequence number."""
    return [
        IncomingEvent(
            id=str(uuid7(int(h.at * 1000))),
            kind=h.kind,
            class_id=h.class_id,
            node=NODE,
            node_seq=first_seq + n,
            origin_time=h.at,
            user_id=h.user_id,
            participant_id=f"c{h.class_id}-u{h.user_id}",
            role=h.role,
            data={},
        )
        for n, h in enumerate(sorted(happenings, key=lambda h: h.at))
    ]


def ingest_events(count: int, concurrent: int, class_size: int, seed: int) -> list[IncomingEvent]:
    """``count`` events of waves of ``concurrent`` classes running at the same time."""
    rng = random.Random(seed)
    out: list[IncomingEvent] = []
    t0 = time.time() - 365 * 86400
    wave = 0
    while len(out) < count:
        start = t0 + wave * 2 * 3600
        happenings = []
        for k in range(concurrent):
            class_id = wave * concurrent + k + 1
            learners = range(class_id * 1000, class_id * 1000 + class_size)
            happenings.extend(class_happenings(rng, class_id, learners, start + k * 30))
        out.extend(stamp(happenings, len(out)))
        wave += 1
    return out[:count]


def _open(path: Path) -> sqlite3.Connection:
    db = connect(path)
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = db.execute("PRAGMA synchronous").fetchone()[0]
    if mode != "wal" or sync != 2:
        raise SystemExit(f"bench: expected WAL and synchronous=FULL, got {mode}, {sync}")
    return db


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM ledger_events").fetchone()[0])


@dataclass(frozen=True, slots=True)
class IngestRow:
    label: str
    batch: int
    events: int
    transactions: int
    seconds: float
    verify_seconds: float | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _verify(ledger: SqliteLedger) -> float:
    t = time.perf_counter()
    breaks = ledger.verify_all()
    took = time.perf_counter() - t
    assert breaks == [], f"the chains do not hold: {breaks[:3]}"
    return took


def ingest(
    tmp: Path, events: list[IncomingEvent], single: int, batches: Sequence[int]
) -> list[IngestRow]:
    rows = []
    path = tmp / "ingest-append.sqlite3"
    db = _open(path)
    ledger = SqliteLedger(db)
    some = events[:single]
    t = time.perf_counter()
    for e in some:
        ledger.append(e)
    took = time.perf_counter() - t
    assert _count(db) == len(some)
    rows.append(IngestRow("append (baseline)", 1, len(some), len(some), took, _verify(ledger)))
    db.close()
    last: tuple[Path, list[IncomingEvent], int] | None = None
    for size in batches:
        path = tmp / f"ingest-batch-{size}.sqlite3"
        db = _open(path)
        ledger = SqliteLedger(db)
        some = events[: min(len(events), size * single)]
        chunks = [some[i : i + size] for i in range(0, len(some), size)]
        t = time.perf_counter()
        for chunk in chunks:
            ledger.append_many(chunk)
        took = time.perf_counter() - t
        assert _count(db) == len(some)
        rows.append(IngestRow("append_many", size, len(some), len(chunks), took, _verify(ledger)))
        db.close()
        if last is None or size >= last[2]:
            last = (path, some, size)
    if last is not None:  # the largest batch's ledger, its events again
        path, some, size = last
        db = _open(path)
        ledger = SqliteLedger(db)
        before = _count(db)
        chunks = [some[i : i + size] for i in range(0, len(some), size)]
        t = time.perf_counter()
        replies = [ledger.append_many(chunk) for chunk in chunks]
        took = time.perf_counter() - t
        assert not any(new for reply in replies for _, new in reply), "a replay added an event"
        assert [le.event.id for reply in replies for le, _ in reply] == [e.id for e in some]
        assert _count(db) == before, "a replay added rows"
        rows.append(IngestRow("replay (all known)", size, len(some), len(chunks), took, None))
        db.close()
    return rows


@dataclass(frozen=True, slots=True)
class Month:
    db: sqlite3.Connection
    ledger: SqliteLedger
    slots: list[ClassSlot]
    learner_ids: list[int]
    now: float


def seed_month(tmp: Path, learners: int, classes: int, seed: int) -> tuple[Month, int]:
    """A group's month: ``classes`` classes on consecutive working days, every learner in
    each. Returns the month and how many events the ledger holds."""
    rng = random.Random(seed)
    db = _open(tmp / "month.sqlite3")
    ledger = SqliteLedger(db)
    learner_ids = list(range(1, learners + 1))
    month = time.time() - 40 * 86400
    slots = []
    happenings: list[Happening] = []
    for n in range(classes):
        start = month + (n + 2 * (n // 5)) * 86400  # five days a week
        class_id = 7000 + n
        slots.append(
            ClassSlot(class_id, f"Lecture {n + 1}", start, start + CLASS_LENGTH, tuple(learner_ids))
        )
        happenings.extend(class_happenings(rng, class_id, learner_ids, start))
    events = stamp(happenings)
    for i in range(0, len(events), 1000):
        ledger.append_many(events[i : i + 1000])
    return Month(db, ledger, slots, learner_ids, time.time()), _count(db)


GRACE = MarkRules().grace_seconds
Digests = Mapping[int, ClassDigest]


@dataclass(frozen=True, slots=True)
class Way:
    """A way of reading the month: ``read`` (timed as SQL), then ``draw`` what marks are made
    of from what was read (timed with the marks)."""

    read: Callable[[Month, list[int]], object]
    draw: Callable[[object], Digests]


def _drawn(events: object) -> Digests:
    assert isinstance(events, dict)
    return {c: digest(evs, GRACE) for c, evs in events.items()}


def _as_is(digests: object) -> Digests:
    assert isinstance(digests, dict)
    return digests


def remembered(m: Month, ids: list[int]) -> Digests:
    return m.ledger.digests_of_classes(ids, GRACE)


def kept_rows(m: Month, ids: list[int]) -> Digests:
    """As a process that has read none of them yet (a report worker's first look)."""
    return SqliteLedger(m.db).digests_of_classes(ids, GRACE)


def one_pass(m: Month, ids: list[int]) -> Mapping[int, Sequence[LedgerEvent]]:
    return m.ledger.events_of_classes(ids)


def per_class(m: Month, ids: list[int]) -> Mapping[int, Sequence[LedgerEvent]]:
    return {c: m.ledger.events(c) for c in ids}


WAYS = {
    "digests kept, remembered": Way(remembered, _as_is),
    "digests kept, rows read": Way(kept_rows, _as_is),
    "events of classes (previous)": Way(one_pass, _drawn),
    "events per class (baseline)": Way(per_class, _drawn),
}
REMEMBERED, ROWS, PREVIOUS, _PER_CLASS = WAYS


def build(m: Month, way: Way) -> tuple[list[float], bytes]:
    """The report as the web layer builds it; seconds for read, marks, matrix, CSV."""
    t0 = time.perf_counter()
    read = way.read(m, [c.id for c in m.slots])
    t1 = time.perf_counter()
    digests = way.draw(read)
    marks = marks_by_class(m.slots, digests, m.now, MarkRules())
    t2 = time.perf_counter()
    rows = matrix(m.learner_ids, m.slots, marks)
    t3 = time.perf_counter()
    heads = [
        ChainHead(c.id, d.events, d.head)
        if (d := digests.get(c.id))
        else ChainHead(c.id, 0, GENESIS)
        for c in m.slots
    ]
    table = Table(
        title="Group month",
        header=["Learner", *(c.title for c in m.slots), "Attended %", "Minutes"],
        rows=[
            [
                f"Learner {r.user_id}",
                *(cell.mark.value if cell else None for cell in r.cells),
                r.totals.percent,
                r.totals.minutes,
            ]
            for r in rows
        ],
        heads=heads,
    )
    data = to_csv(table)
    t4 = time.perf_counter()
    return [t1 - t0, t2 - t1, t3 - t2, t4 - t3], data


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(m: Month, runs: int) -> dict[str, list[list[float]]]:
    """Per way of reading: one list of [read, marks, matrix, csv] seconds per run."""
    out: dict[str, list[list[float]]] = {name: [] for name in WAYS}
    csv: dict[str, bytes] = {}
    for name, way in WAYS.items():  # warm-up, not counted: the first run fills the caches
        csv[name] = build(m, way)[1]
    assert len(set(csv.values())) == 1, "every way of reading must give the same report"
    for _ in range(runs):
        for name, way in WAYS.items():  # interleaved, so drift hits all alike
            out[name].append(build(m, way)[0])
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Markdown, with the columns padded; the first column left-aligned, the rest right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(header))
    rule = ["-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    print("|" + "|".join(rule) + "|")
    for r in rows:
        print(line(r))


def sync_latency(tmp: Path, n: int = 200) -> float:
    """Median seconds of one fdatasync after a 4 KiB write: what a durable commit waits for."""
    path = tmp / "sync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for i in range(n):
            os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times)


def _filesystem(path: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "--output=fstype", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        return out[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="events per batched row")
    parser.add_argument("--batch", default="1,100,1000", help="comma-separated batch sizes")
    parser.add_argument(
        "--single", type=int, default=2_000, help="events of the one-per-transaction baseline"
    )
    parser.add_argument("--concurrent", type=int, default=20, help="classes running at once")
    parser.add_argument("--class-size", type=int, default=25, help="learners per ingest class")
    parser.add_argument("--learners", type=int, default=200, help="learners in the report")
    parser.add_argument("--classes", type=int, default=30, help="classes in the report")
    parser.add_argument("--runs", type=int, default=10, help="timed report builds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    args = parser.parse_args()
    batches = [int(b) for b in args.batch.split(",") if b]

    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir=args.dir) as name:
        tmp = Path(name)
        fs = _filesystem(tmp)
        print(
            f"# bench.ledger: {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version},"
            f" {fs} at {tmp.parent}, WAL + synchronous=FULL;"
            f" fdatasync of 4 KiB {sync_latency(tmp) * 1e6:.0f} µs (median)"
        )
        if fs in ("tmpfs", "ramfs"):
            print("# warning: a file system in memory — its syncs cost nothing; use --dir")
        print()

        t = time.perf_counter()
        events = ingest_events(
            max(args.events, args.single), args.concurrent, args.class_size, args.seed
        )
        classes = len({e.class_id for e in events})
        print(
            f"## Ingest: {len(events)} events of {classes} classes ({args.concurrent} at a"
            f" time, {args.class_size} learners each), made in {time.perf_counter() - t:.1f} s"
        )
        print()
        rows = ingest(tmp, events, args.single, batches)
        base = rows[0].rate
        table(
            ["ingest", "batch", "events", "commits", "s", "events/s", "× baseline", "verify s"],
            [
                [
                    r.label,
                    str(r.batch),
                    str(r.events),
                    str(r.transactions),
                    f"{r.seconds:.2f}",
                    f"{r.rate:,.0f}",
                    f"{r.rate / base:.1f}",
                    "–" if r.verify_seconds is None else f"{r.verify_seconds:.2f}",
                ]
                for r in rows
            ],
        )
        verified = [r for r in rows if r.verify_seconds is not None]
        biggest = max(verified, key=lambda r: r.events)
        assert biggest.verify_seconds is not None
        print()
        print(
            f"verify_all: every chain holds; {biggest.events} events recomputed in"
            f" {biggest.verify_seconds:.2f} s ({biggest.events / biggest.verify_seconds:,.0f}"
            " events/s)"
        )
        batched = [r for r in rows if r.label == "append_many" and r.batch > 1]
        if batched:
            best = max(batched, key=lambda r: r.rate)
            verdict = "met" if best.rate >= INGEST_TARGET else "NOT met"
            print(
                f"target ≥ {INGEST_TARGET:,} events/s batched, durable on commit: {verdict}"
                f" (best {best.rate:,.0f} events/s at batch {best.batch})"
            )
        print()

        t = time.perf_counter()
        month, stored = seed_month(tmp, args.learners, args.classes, args.seed)
        print(
            f"## Group month: {args.learners} learners × {args.classes} classes, {stored}"
            f" events, seeded in {time.perf_counter() - t:.1f} s; {args.runs} runs after a"
            " warm-up"
        )
        t = time.perf_counter()
        drawn = month.ledger.keep_digests([c.id for c in month.slots], GRACE)
        print(
            f"digests drawn and kept for the first report: {drawn} classes in"
            f" {(time.perf_counter() - t) * 1000:.0f} ms (once: a class's is drawn anew only"
            " when its chain grows)"
        )
        print()
        load = os.getloadavg()[0]
        timings = report(month, args.runs)
        out = []
        for way, runs in timings.items():
            totals = [sum(r) for r in runs]
            parts = [statistics.median(r[i] for r in runs) * 1000 for i in range(4)]
            out.append(
                [
                    way,
                    *(f"{p:.1f}" for p in parts),
                    f"{statistics.median(totals) * 1000:.1f}",
                    f"{p95(totals) * 1000:.1f}",
                ]
            )
        table(
            ["report build", "SQL ms", "marks ms", "matrix ms", "CSV ms", "p50 ms", "p95 ms"],
            out,
        )
        print()
        warm, cold = ([sum(r) for r in timings[w]] for w in (REMEMBERED, ROWS))
        before = [sum(r) for r in timings[PREVIOUS]]
        verdict = "met" if max(p95(warm), p95(cold)) <= REPORT_TARGET else "NOT met"
        print(
            f"target ≤ {REPORT_TARGET * 1000:.0f} ms p95 for the month's report, CSV included:"
            f" {verdict} (p95 {p95(warm) * 1000:.0f} ms remembered, {p95(cold) * 1000:.0f} ms"
            f" rows read; previous path {p95(before) * 1000:.0f} ms; at the median"
            f" {statistics.median(before) / statistics.median(warm):.1f}× and"
            f" {statistics.median(before) / statistics.median(cold):.1f}× faster); load average"
            f" {load:.2f} before the runs, {os.getloadavg()[0]:.2f} after"
        )


if __name__ == "__main__":
    main()
