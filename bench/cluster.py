"""Cluster: events from two media nodes through Redis into the ledger, and class placement.

A real ``redis-server`` (AOF, ``appendfsync always`` as compose.yaml runs it; the same again with
``everysec`` set on a second server by ``CONFIG SET``) and a real SQLite ledger (WAL,
``synchronous=FULL``) in a temporary folder.

1. Events. Two media-node processes, each with its own ``EventOutbox`` and ``RedisStreamSink``
   and its own node id, emit ``--events`` events each (learners joining, dropping, coming back
   and leaving in ``--classes-live`` seeded classes that run at once, half on each node) as fast
   as the outbox delivers them. This process is the control node: ``ingest_once`` in a loop,
   through ``ClusterIngest`` and ``LedgerSink`` as ``sabaq control`` runs them, until all of
   them are committed. End to end is from the first emit to the last commit. Three paths, each
   in the same run: ``after``, today's (an outbox batch is one stream entry, its events encoded
   once; the control node decodes a read's entries one by one and commits about 500 events a
   transaction, each read's XACK sent with a later read); ``entries``, the path one version
   ago (an outbox batch is one pipelined round trip of XADDs, one entry per event, read by
   today's control node as entries of nodes of that version are); and ``before``, the first
   path (one XADD round trip per event; one commit per event, 200 entries a read, XACK a round
   trip of its own). ``--rounds`` runs each path that many times.
   The baseline of the same run is the single process of ``sabaq serve``: one outbox
   delivering the same events straight into ``LedgerSink`` on a fresh ledger, run just before
   each Redis row (the disk's sync time drifts; each row is compared with its own).
   Afterwards the ledger must hold every event once, in each node's order, its chains whole,
   and nothing left unacknowledged in the stream.

2. Placement. Two media nodes in the registry; a burst of ``--classes`` class starts placed at
   once (``asyncio.gather`` of ``Cluster.node_for``), each timed from the burst's start; then
   the same classes asked for again (already placed: the lookup path), then as many new classes
   placed one at a time. The baseline is one plain ``HGET`` round trip.

    .venv/bin/python -m bench.cluster --events 5000 --classes 200
    .venv/bin/python -m bench.cluster --fsync always --paths entries,after --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis as redis_sync
from redis.asyncio import Redis
from redis.utils import HIREDIS_AVAILABLE

from access.events import EventKind
from access.sqlite_store import SqliteAccounts
from attendance.heads_folder import HeadsFolder
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from bench.join import one_group
from bench.ledger import _filesystem, p95, sync_latency, table
from control.changes import Changes
from control.cluster import INGEST_FOR, Cluster, ClusterIngest, in_turn
from control.database import connect
from control.evidence import LedgerHeldEvidence
from control.ingest import LedgerSink
from control.redis_ingest import GROUP, ensure_group, ingest_once
from scheduler.models import ClassFormat, ClassKind
from scheduler.sqlite_store import SqliteTimetable
from streaming.cluster_keys import NODES, PLACEMENT, NodeInfo
from streaming.events import EventOutbox, EventSink, MediaEvent
from streaming.redis_events import STREAM, DiskBuffer, RedisStreamSink, encode

NODE_NAMES = ("media-a", "media-b")
LEARNERS = 25  # per class
EXPECTED = 25  # people a placed class is expected to bring
HGET_ROUNDS = 1000
CYCLE = (
    EventKind.JOINED,
    EventKind.DISCONNECTED,
    EventKind.RECONNECTED,
    EventKind.LEFT,
)

Happening = tuple[EventKind, int, int, str]  # kind, class, user, role


# -- the academy and its events ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Academy:
    teacher: int
    learners: list[int]
    class_ids: list[int]


@dataclass(frozen=True, slots=True)
class Control:
    """What the control node (or ``sabaq serve``) writes into: one SQLite file."""

    db: sqlite3.Connection
    ledger: SqliteLedger
    sink: LedgerSink
    academy: Academy


def open_control(path: Path, classes: int) -> Control:
    """A fresh database with one group of ``LEARNERS`` and ``classes`` planned classes (one after
    another in the timetable; the events pretend they run at once)."""
    db = connect(path)
    accounts, timetable = SqliteAccounts(db), SqliteTimetable(db)
    teacher, group_id, learners = one_group(accounts, timetable, LEARNERS)
    start = datetime.now(UTC)
    class_ids = [
        timetable.add_class(
            title=f"Bench {n}",
            kind=ClassKind.LECTURE,
            format=ClassFormat.LIVE_ONLINE,
            teacher_id=teacher,
            starts_at=start + timedelta(hours=2 * n),
            ends_at=start + timedelta(hours=2 * n, minutes=90),
            group_ids=(group_id,),
            on_day_off=True,
        ).id
        for n in range(classes)
    ]
    ledger = SqliteLedger(db)
    sink = LedgerSink(
        ledger,
        timetable,
        LedgerHeldEvidence(ledger, timetable, 600.0),
        SqliteHeartbeats(db),
        HeadsFolder(path.parent / f"{path.stem}-heads"),
        Changes(),
    )
    return Control(db, ledger, sink, Academy(teacher, learners, class_ids))


def plan(academy: Academy, class_ids: Sequence[int], count: int) -> list[Happening]:
    """A node's ``count`` events over its classes, interleaved as they happen at once: each
    class starts, then its learners join, drop, come back and leave, over and over."""
    out: list[Happening] = [
        (EventKind.CLASS_STARTED, c, academy.teacher, "host") for c in class_ids
    ][:count]
    step = 0
    while len(out) < count:
        class_id = class_ids[step % len(class_ids)]
        k = step // len(class_ids)
        user = academy.learners[k % len(academy.learners)]
        out.append((CYCLE[(k // len(academy.learners)) % len(CYCLE)], class_id, user, "learner"))
        step += 1
    return out


def emit_all(outbox: EventOutbox, happenings: Sequence[Happening]) -> None:
    for kind, class_id, user, role in happenings:
        outbox.emit(kind, class_id, user_id=user, participant_id=f"c{class_id}-u{user}", role=role)


def node_share(academy: Academy, index: int) -> list[int]:
    return academy.class_ids[index :: len(NODE_NAMES)]


# -- the previous path, for comparison in the same run --------------------------------------------
class XaddEach(RedisStreamSink):
    """The media node's sink as it was: one XADD round trip (one AOF sync) per event."""

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        batch = super().deliver_many
        await in_turn(events, lambda event: batch((event,)))


class EntryEach(RedisStreamSink):
    """The media node's sink one version ago: an outbox batch is one pipelined round trip of
    XADDs, one stream entry per event (the control node reads and parses each)."""

    async def _deliver(self, events: list[MediaEvent], entry: dict[str, bytes]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(STREAM, encode(event))  # type: ignore[arg-type]
        await pipe.execute()


class CommitEach:
    """The control node's ingest as it was: one ledger commit per event of a read."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    async def deliver(self, event: MediaEvent) -> None:
        await self._sink.deliver(event)

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        await in_turn(events, self._sink.deliver)

    async def heartbeat(self, node: str, at: float) -> None:
        await self._sink.heartbeat(node, at)

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        await self._sink.dead_letter(event, error)


class Stamped:
    """The control node's sink, noting when its last commit returned: end to end ends there
    (as the baseline's ends at its last commit), not when ``ingest_once`` returns after one
    more read that finds the stream empty (a blocking read: up to ``block_ms`` and Redis's
    timer tick more)."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.last = 0.0

    async def deliver(self, event: MediaEvent) -> None:
        await self.deliver_many((event,))

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        await self._sink.deliver_many(events)
        self.last = time.time()

    async def heartbeat(self, node: str, at: float) -> None:
        await self._sink.heartbeat(node, at)

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        await self._sink.dead_letter(event, error)


# path → entries an XREADGROUP asks for
PATHS = {"before": 200, "entries": 500, "after": 500}


# -- 1. events -----------------------------------------------------------------------------------
def _media_node(
    url: str, node: str, happenings: list[Happening], folder: str, path: str, conn: Connection
) -> None:
    """A media node: its outbox delivers to the stream; reports when it started and finished."""

    async def main() -> None:
        redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        kind = {"before": XaddEach, "entries": EntryEach}.get(path, RedisStreamSink)
        sink = kind(redis, DiskBuffer(Path(folder) / f"events-{node}.jsonl"))
        outbox = EventOutbox(sink, node)
        await redis.ping()  # type: ignore[misc]  # the connection is made before the clock starts
        outbox.start()
        conn.send("ready")
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, conn.recv) == "go"
        first, cpu = time.time(), time.process_time()
        emit_all(outbox, happenings)
        async with asyncio.timeout(300):
            await outbox.flush()
        last = time.time()
        await outbox.stop()
        cpu = time.process_time() - cpu
        conn.send({"first": first, "last": last, "buffered": sink.buffer.size, "cpu": cpu})
        await redis.aclose()

    asyncio.run(main())


@dataclass(frozen=True, slots=True)
class FlowRow:
    label: str
    fsync: str
    events: int
    seconds: float
    xadd_rates: tuple[float, ...] = ()  # per node, events/s its outbox delivered
    lag: float | None = None  # seconds from the last XADD to the last commit
    cpu: tuple[float, ...] = ()  # CPU seconds: the media nodes, Redis, the control node
    path: str = ""  # "before", "entries" or "after" through Redis; "" for the baseline

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def check_ledger(control: Control, events: int) -> None:
    """Every event once, each node's in its order, the chains whole."""
    rows = control.db.execute("SELECT node, node_seq FROM ledger_events ORDER BY seq").fetchall()
    assert len(rows) == events, f"the ledger holds {len(rows)} events, not {events}"
    last: dict[str, int] = {}
    for node, seq in rows:
        assert seq > last.get(node, 0), f"node {node}: event {seq} committed after {last[node]}"
        last[node] = seq
    breaks = control.ledger.verify_all()
    assert breaks == [], f"the chains do not hold: {breaks[:3]}"


async def single_process(tmp: Path, name: str, classes: int, events: int) -> FlowRow:
    """``sabaq serve``: one outbox straight into ``LedgerSink``, every event committed."""
    control = open_control(tmp / f"serve-{name}.sqlite3", classes)
    shares = [plan(control.academy, node_share(control.academy, i), events) for i in range(2)]
    merged = [h for pair in zip(*shares, strict=True) for h in pair]
    outbox = EventOutbox(control.sink, "serve")
    outbox.start()
    t, cpu = time.time(), time.process_time()
    emit_all(outbox, merged)
    async with asyncio.timeout(300):
        await outbox.flush()
    took, cpu = time.time() - t, time.process_time() - cpu
    await outbox.stop()
    check_ledger(control, len(merged))
    control.db.close()
    return FlowRow(
        "1 process: outbox → LedgerSink (baseline)", "–", len(merged), took, cpu=(0, 0, cpu)
    )


async def _redis_cpu(redis: Redis) -> float:
    """CPU seconds the Redis server has used so far."""
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def through_redis(
    url: str, fsync: str, path: str, tmp: Path, classes: int, events: int
) -> tuple[FlowRow, int]:
    """Two media-node processes → the stream → ``ingest_once`` → ``ClusterIngest`` →
    ``LedgerSink``, on the ``path`` given. Returns the row and the bytes the stream still
    takes in Redis."""
    folder = tmp / f"flow-{fsync}-{path}-{secrets.token_hex(4)}"
    folder.mkdir()
    control = open_control(folder / "control.sqlite3", classes)
    redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    await redis.delete(STREAM)
    await ensure_group(redis)
    cluster = Cluster(
        redis, control.ledger, SqliteHeartbeats(control.db), Changes(), dead_after=30.0
    )
    ingest: EventSink = ClusterIngest(control.sink, cluster)
    if path == "before":
        ingest = CommitEach(ingest)
    stamped = Stamped(ingest)
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    conns: list[Connection] = []
    try:
        for i, name in enumerate(NODE_NAMES):
            node = f"{name}.{secrets.token_hex(4)}"
            happenings = plan(control.academy, node_share(control.academy, i), events)
            parent, child = ctx.Pipe()
            procs.append(
                ctx.Process(
                    target=_media_node,
                    args=(url, node, happenings, str(folder), path, child),
                    daemon=True,
                )
            )
            procs[-1].start()
            conns.append(parent)
        for c in conns:
            if not c.poll(60):
                raise SystemExit("bench: a media node did not start")
            assert c.recv() == "ready"
        redis_cpu, cpu = await _redis_cpu(redis), time.process_time()
        for c in conns:
            c.send("go")
        total = events * len(NODE_NAMES)
        done = 0
        first_read = True  # as `sabaq control` reads: what it had read first, then only new
        async with asyncio.timeout(300):
            while done < total:
                done += await ingest_once(
                    redis,
                    stamped,
                    "bench",
                    block_ms=100,
                    count=PATHS[path],
                    pending=first_read,
                    within=0.0 if path == "before" else INGEST_FOR,
                )
                first_read = False
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit("bench: a media node failed")
        committed = stamped.last
        cpu = time.process_time() - cpu
        redis_cpu = await _redis_cpu(redis) - redis_cpu
        results = []
        for c in conns:
            if not c.poll(60):
                raise SystemExit("bench: a media node did not report")
            results.append(c.recv())
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
    assert all(r["buffered"] == 0 for r in results), "events went to a node's disk, not Redis"
    check_ledger(control, total)
    pending = await redis.xpending(STREAM, GROUP)
    assert pending["pending"] == 0, f"{pending['pending']} entries were never acknowledged"
    stream_bytes = int(await redis.memory_usage(STREAM) or 0)
    await redis.aclose()
    control.db.close()
    first = min(r["first"] for r in results)
    row = FlowRow(
        f"2 nodes → Redis stream → ingest_once → ledger, {path}",
        fsync,
        total,
        committed - first,
        tuple(events / (r["last"] - r["first"]) for r in results),
        committed - max(r["last"] for r in results),
        (sum(r["cpu"] for r in results), redis_cpu, cpu),
        path,
    )
    return row, stream_bytes


# -- 2. placement --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlacementRow:
    label: str
    fsync: str
    latencies: list[float]  # seconds
    total: float
    split: dict[str, int] | None = None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def placement(url: str, fsync: str, tmp: Path, k: int) -> list[PlacementRow]:
    redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    db = connect(tmp / f"placement-{fsync}.sqlite3")
    now = time.time()
    nodes = [
        NodeInfo(
            id=f"{name}.{secrets.token_hex(4)}",
            name=name,
            url=f"http://127.0.0.1:{8101 + i}",
            capacity=2 * k * EXPECTED,  # room for all: the split is the balancing's, not fullness
            participants=0,
            rooms=0,
            started=now,
            at=now,
        )
        for i, name in enumerate(NODE_NAMES)
    ]
    await redis.delete(NODES, PLACEMENT)
    await redis.hset(NODES, mapping={n.id: n.dumps() for n in nodes})  # type: ignore[misc]
    names = {n.id: n.name for n in nodes}
    cluster = Cluster(redis, SqliteLedger(db), SqliteHeartbeats(db), Changes(), dead_after=30.0)
    rows = []

    trips = []
    for _ in range(HGET_ROUNDS // 10):  # warm-up: the connection is made, the hash is hot
        await redis.hget(NODES, nodes[0].id)  # type: ignore[misc]
    for _ in range(HGET_ROUNDS):
        t = time.perf_counter()
        await redis.hget(NODES, nodes[0].id)  # type: ignore[misc]
        trips.append(time.perf_counter() - t)
    rows.append(PlacementRow("one HGET round trip (baseline)", fsync, trips, sum(trips)))

    async def burst(class_ids: Sequence[int]) -> tuple[list[float], list[str], float]:
        t0 = time.perf_counter()

        async def one(class_id: int) -> tuple[float, str]:
            info = await cluster.node_for(class_id, EXPECTED)
            return time.perf_counter() - t0, info.id

        answers = await asyncio.gather(*(one(c) for c in class_ids))
        return [a[0] for a in answers], [a[1] for a in answers], time.perf_counter() - t0

    ids = list(range(1, k + 1))
    latencies, placed, took = await burst(ids)
    split = {name: 0 for name in NODE_NAMES}
    for node_id in placed:
        split[names[node_id]] += 1
    rows.append(PlacementRow(f"burst of {k} class starts, placed", fsync, latencies, took, split))

    latencies, again, took = await burst(ids)
    assert again == placed, "a class placed once moved to another node"
    rows.append(PlacementRow(f"the same {k} again (already placed)", fsync, latencies, took))

    latencies = []
    t0 = time.perf_counter()
    for class_id in range(k + 1, 2 * k + 1):
        t = time.perf_counter()
        await cluster.node_for(class_id, EXPECTED)
        latencies.append(time.perf_counter() - t)
    took = time.perf_counter() - t0
    rows.append(PlacementRow(f"{k} new classes one at a time", fsync, latencies, took))

    await redis.aclose()
    db.close()
    return rows


# -- running -------------------------------------------------------------------------------------
def start_redis(folder: Path, fsync: str) -> Any:
    """A redis-server as the tests run it (AOF, fsync always), then set to ``fsync``."""
    from tests.redis_server import RedisServer  # imported here: the node processes need none

    server = RedisServer(folder)
    server.start()
    client = redis_sync.Redis(port=server.port, decode_responses=True)
    try:
        if fsync != "always":
            client.config_set("appendfsync", fsync)
        got = client.config_get("appendfsync")
        if not isinstance(got, dict) or got.get("appendfsync") != fsync:
            raise SystemExit(f"bench: expected appendfsync {fsync}, got {got!r}")
    finally:
        client.close()
    return server


async def run(args: argparse.Namespace, tmp: Path) -> None:
    flows: list[tuple[FlowRow, float]] = []  # each row with the baseline run just before it
    placements: list[PlacementRow] = []
    stream_bytes = 0
    for fsync in args.fsync.split(","):
        server = start_redis(tmp / f"redis-{fsync}", fsync)
        try:
            for path in [p for _ in range(args.rounds) for p in args.paths.split(",")]:
                # The baseline again before each Redis row: the disk's sync time drifts with
                # whatever else the machine does, and a row is compared with the one next to it.
                n = len(flows)
                base = await single_process(tmp, f"{fsync}-{n}", args.classes_live, args.events)
                flows.append((base, base.rate))
                print(f"# baseline: {base.rate:,.0f} events/s", flush=True)
                row, stream_bytes = await through_redis(
                    server.url, fsync, path, tmp, args.classes_live, args.events
                )
                flows.append((row, base.rate))
                print(
                    f"# events through Redis, fsync {fsync}, {path}: {row.rate:,.0f} events/s"
                    f" ({row.rate / base.rate:.2f}× the baseline)",
                    flush=True,
                )
            placements.extend(await placement(server.url, fsync, tmp, args.classes))
        finally:
            server.kill()

    print()
    print(
        f"## Events: {len(NODE_NAMES)} nodes × {args.events} events, {args.classes_live} classes"
        f" of {LEARNERS} learners live at once"
    )
    print()
    table(
        [
            "path",
            "Redis fsync",
            "events",
            "s",
            "events/s",
            "× baseline",
            "XADD/s per node",
            "lag s",
            "CPU µs/event: nodes / Redis / control",
        ],
        [
            [
                r.label,
                r.fsync,
                f"{r.events:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                f"{r.rate / base:.2f}",
                " / ".join(f"{x:,.0f}" for x in r.xadd_rates) or "–",
                "–" if r.lag is None else f"{r.lag:.2f}",
                " / ".join(f"{c / r.events * 1e6:.0f}" for c in r.cpu),
            ]
            for r, base in flows
        ],
    )
    print()
    print(
        "events/s is end to end, first emit to last commit, × the baseline row just above;"
        " XADD/s is each node's outbox delivering into the stream; lag is how long the ledger"
        " kept ingesting after the last XADD (when it grows with the events, the control node"
        " is the bottleneck); CPU is per event, the media nodes' together (the baseline's is"
        " all in its one process, under control)."
    )
    print()
    summary(flows)
    print()
    print(
        f"The stream held {stream_bytes / 1e6:.1f} MB in Redis for"
        f" {len(NODE_NAMES) * args.events:,} events; `sabaq control` trims what it has"
        " committed once it is an hour old (`control.redis_ingest.trim`)."
    )
    print()
    print(f"## Placement: {args.classes} classes on {len(NODE_NAMES)} registered nodes")
    print()
    hget = {
        r.fsync: statistics.median(r.latencies)
        for r in placements
        if r.label.startswith("one HGET")
    }
    rows = []
    for r in placements:
        split = " / ".join(f"{n}" for n in r.split.values()) if r.split is not None else "–"
        rows.append(
            [
                r.label,
                r.fsync,
                str(len(r.latencies)),
                _ms(statistics.median(r.latencies)),
                _ms(p95(r.latencies)),
                _ms(max(r.latencies)),
                f"{r.total * 1000:.1f}",
                f"{statistics.median(r.latencies) / hget[r.fsync]:.1f}",
                split,
            ]
        )
    table(
        [
            "placement",
            "Redis fsync",
            "calls",
            "p50 ms",
            "p95 ms",
            "max ms",
            "total ms",
            "p50 × HGET",
            " / ".join(NODE_NAMES),
        ],
        rows,
    )
    print()
    print(
        "A burst's latencies run from the burst's start to each class's answer (queueing"
        " included); one at a time is the cost of one placement alone."
    )


def summary(flows: list[tuple[FlowRow, float]]) -> None:
    """Per setting and path, the median over the rounds: end to end, and the control node's CPU
    per event against the single process's (what each could do with a core of its own)."""
    groups: dict[tuple[str, str], list[tuple[FlowRow, float, float]]] = {}
    for (row, base), (base_row, _) in zip(flows[1:], flows, strict=False):
        if row.path:  # a Redis row, after its baseline
            cpu_base = base_row.cpu[2] / base_row.events
            groups.setdefault((row.fsync, row.path), []).append((row, base, cpu_base))
    rows = []
    for (fsync, path), runs in groups.items():
        ratios = sorted(r.rate / b for r, b, _ in runs)
        control = statistics.median(r.cpu[2] / r.events for r, _, _ in runs)
        single = statistics.median(c for _, _, c in runs)
        rows.append(
            [
                fsync,
                path,
                str(len(runs)),
                f"{statistics.median(b for _, b, _ in runs):,.0f}",
                f"{statistics.median(r.rate for r, _, _ in runs):,.0f}",
                f"{statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f})",
                f"{single * 1e6:.0f} / {control * 1e6:.0f}",
                f"{single / control:.2f}×",
            ]
        )
    table(
        [
            "Redis fsync",
            "path",
            "rounds",
            "1 process, events/s",
            "2 nodes via Redis, events/s",
            "ratio, median (range)",
            "CPU µs/event: 1 process / control",
            "ratio by CPU",
        ],
        rows,
    )
    print()
    print(
        "Medians over the rounds, each Redis row against the baseline run just before it. Ratio"
        " by CPU: the single process's CPU per event over the control node's, what the control"
        " node keeps up with when the media nodes and Redis have cores of their own."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000, help="events per media node")
    parser.add_argument("--classes", type=int, default=200, help="class starts in the burst")
    parser.add_argument(
        "--classes-live", type=int, default=40, help="classes the events are about, at once"
    )
    parser.add_argument(
        "--fsync", default="always,everysec", help="Redis appendfsync settings to run"
    )
    parser.add_argument(
        "--paths",
        default="before,entries,after",
        help="event paths to run: before (one XADD and one commit per event), entries (one"
        " entry per event, a round trip per batch), after (one entry per batch)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each path runs (each with its baseline)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    args = parser.parse_args()
    if args.classes_live < len(NODE_NAMES):
        parser.error(f"--classes-live must be at least {len(NODE_NAMES)}")
    if not set(args.paths.split(",")) <= set(PATHS):
        parser.error(f"--paths takes {', '.join(PATHS)}, comma-separated")

    with tempfile.TemporaryDirectory(prefix="bench-cluster-", dir=args.dir) as name:
        tmp = Path(name)
        fs = _filesystem(tmp)
        print(
            f"# bench.cluster: {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version},"
            f" {fs} at {tmp.parent}; fdatasync of 4 KiB {sync_latency(tmp) * 1e6:.0f} µs (median);"
            f" Redis replies parsed by {'hiredis' if HIREDIS_AVAILABLE else 'redis-py in Python'}"
        )
        if fs in ("tmpfs", "ramfs"):
            print("# warning: a file system in memory — its syncs cost nothing; use --dir")
        t = time.perf_counter()
        asyncio.run(run(args, tmp))
        print(f"\n# {time.perf_counter() - t:.0f} s in all")


if __name__ == "__main__":
    main()
