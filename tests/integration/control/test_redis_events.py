"""The cluster's durable event flow through a real Redis: media node → stream → control node →
ledger, acknowledged only after the commit; pending entries finished after a restart; events
kept on the node's disk while Redis is away and replayed when it is back — none lost, none
doubled."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from access.events import EventKind
from access.tokens import TokenSigner
from attendance.sqlite_dead_events import SqliteDeadEvents
from attendance.sqlite_heartbeats import SqliteHeartbeats
from control.evidence import LedgerHeldEvidence
from control.ingest import LedgerSink
from control.redis_ingest import (
    GROUP,
    ensure_group,
    ingest_once,
    oldest_unacknowledged,
    trim,
    unacknowledged,
)
from streaming.aiortc_media import AiortcBackend
from streaming.cluster import MediaAgent
from streaming.cluster_keys import NODES, NodeInfo, spent_key
from streaming.events import EventOutbox, MediaEvent, NotRecorded
from streaming.node import MediaNode, MediaSettings
from streaming.redis_events import (
    HEARTBEATS,
    STREAM,
    DiskBuffer,
    RedisStreamSink,
    decode,
    decode_entry,
    encode,
    encode_batch,
)
from tests.conftest import Academy
from tests.redis_server import RedisServer
from web.core import keys


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    r = Redis.from_url(redis_server.url, socket_connect_timeout=0.5, socket_timeout=2)
    yield r
    await r.aclose()


def ledger_sink(served: TestServer) -> LedgerSink:
    app = served.app
    evidence = LedgerHeldEvidence(app[keys.LEDGER], app[keys.TIMETABLE], 0.05, app[keys.GUESTS])
    return LedgerSink(
        app[keys.LEDGER], app[keys.TIMETABLE], evidence, SqliteHeartbeats(app[keys.DB]),
        app[keys.HEADS], app[keys.CHANGES], SqliteDeadEvents(app[keys.DB]),
    )  # fmt: skip


def joined(served: TestServer, class_id: int) -> list[int | None]:
    return [
        le.event.user_id
        for le in served.app[keys.LEDGER].events(class_id)
        if le.event.kind is EventKind.JOINED
    ]


async def joined_all(outbox: EventOutbox, class_id: int, learners: list[int], wait: float) -> None:
    """Each learner joins; returns once the sink has every event (stream or disk)."""
    for learner in learners:
        outbox.emit(EventKind.JOINED, class_id, user_id=learner, role="learner")
    async with asyncio.timeout(wait):
        await outbox.flush()


async def one_entry_each(
    outbox: EventOutbox, class_id: int, learners: list[int], wait: float
) -> None:
    """Each learner joins, delivered on its own: one stream entry each."""
    for learner in learners:
        await joined_all(outbox, class_id, [learner], wait)


async def in_stream(client: Redis) -> list[MediaEvent]:
    """The events the stream holds, in order, whatever entries they came in."""
    out = []
    for _id, fields in await client.xrange(STREAM):
        for event in decode_entry(fields):
            assert isinstance(event, MediaEvent)
            out.append(event)
    return out


def test_an_event_survives_the_stream_as_it_was() -> None:
    event = MediaEvent(
        "0191-x", EventKind.JOINED, 7, "media-2", 3, 1700000000.5, 42, "p1", "learner",
        {"device": "телефон"},
    )  # fmt: skip
    assert decode(encode(event)) == event
    assert decode({b"event": encode(event)["event"].encode()}) == event
    with pytest.raises(ValueError, match="without an event"):
        decode({"other": "x"})
    later = dataclasses.replace(event, id="0191-y", seq=4, data={})
    assert decode_entry(encode_batch([event, later])) == [event, later]
    assert decode_entry({b"event": encode(event)["event"].encode()}) == [event]  # as it was


async def test_events_reach_the_ledger_and_are_acknowledged_after_the_commit(
    served: TestServer, academy: Academy, client: Redis, tmp_path: Path
) -> None:
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    outbox = EventOutbox(sink, "media-2")
    outbox.start()
    await joined_all(outbox, academy.class_id, academy.student_ids[:5], 10)
    await outbox.stop()
    await sink.heartbeat("media-2", 1700000000.0)
    assert await client.hget(HEARTBEATS, "media-2") == b"1700000000.0"  # type: ignore[misc]
    await ensure_group(client)
    await ensure_group(client)  # a second control node start: the group is there already
    assert await ingest_once(client, ledger_sink(served), "control-1") == 5
    assert joined(served, academy.class_id) == academy.student_ids[:5]
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0


async def test_a_batch_whose_commit_fails_stays_pending_and_unacknowledged(
    served: TestServer, academy: Academy, client: Redis, tmp_path: Path
) -> None:
    """What one read returns is one commit: when it fails (the database locked by another
    writer past its timeout), no event of the batch is in the ledger and every one is pending;
    the next pass commits them all, once each, in order."""
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    outbox = EventOutbox(sink, "media-2")
    outbox.start()
    learners = academy.student_ids[:6]
    await joined_all(outbox, academy.class_id, learners, 10)
    await outbox.stop()
    await ensure_group(client)
    db = served.app[keys.DB]
    db.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(served.app[keys.SETTINGS].database_path)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the database
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await ingest_once(client, ledger_sink(served), "control-1")
        assert joined(served, academy.class_id) == []
        assert await unacknowledged(client) == len(learners)  # read, none acknowledged
        other.rollback()
    finally:
        other.close()
        db.execute("PRAGMA busy_timeout = 5000")
    assert await ingest_once(client, ledger_sink(served), "control-1") == len(learners)
    assert joined(served, academy.class_id) == learners
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0


async def test_an_unstorable_entry_is_set_aside_and_the_rest_of_its_batch_is_committed(
    served: TestServer, academy: Academy, client: Redis
) -> None:
    """An entry whose event the ledger can never store (a lone surrogate, which JSON carries
    and SQLite cannot) goes to the control node's dead letters and is acknowledged; the events
    before and after it in the same read are committed, in order."""
    events = [
        MediaEvent(f"0191-{n}", EventKind.JOINED, academy.class_id, "media-2", n, 1.0 + n,
                   learner, f"p{n}", "learner", {"device": "\ud800"} if n == 2 else {})
        for n, learner in enumerate(academy.student_ids[:4], start=1)
    ]  # fmt: skip
    for event in events:  # in ASCII JSON, as a node of another build might have written them
        await client.xadd(STREAM, {"event": json.dumps(json.loads(encode(event)["event"]))})
    await ensure_group(client)
    assert await ingest_once(client, ledger_sink(served), "control-1") == 3
    ids = [academy.student_ids[0], academy.student_ids[2], academy.student_ids[3]]
    assert joined(served, academy.class_id) == ids
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0
    dead = SqliteDeadEvents(served.app[keys.DB]).latest()
    assert [d.id for d in dead] == ["0191-2"] and "UnicodeEncodeError" in dead[0].error


async def test_a_batch_entry_and_entries_of_one_event_are_ingested_alike(
    served: TestServer, academy: Academy, client: Redis
) -> None:
    """During an upgrade the stream holds entries of one event (nodes of the previous version)
    and batch entries: the register counts their events, and each is committed once, in
    order. In a batch, an event the ledger can never store (written in ASCII JSON by another
    build) is set aside and one that is not an event is skipped; the rest of it is committed
    and the entry acknowledged."""
    events = [
        MediaEvent(f"0191-{n}", EventKind.JOINED, academy.class_id, "media-2", n, 1.0 + n,
                   learner, f"p{n}", "learner", {"device": "\ud800"} if n == 3 else {})
        for n, learner in enumerate(academy.student_ids[:5], start=1)
    ]  # fmt: skip
    await client.xadd(STREAM, encode(events[0]))  # type: ignore[arg-type]
    docs = [json.loads(encode(e)["event"]) for e in events[1:4]]
    docs.insert(1, {"id": "0191-x", "kind": "teleported"})
    await client.xadd(STREAM, {"n": str(len(docs)), "events": json.dumps(docs)})
    await client.xadd(STREAM, encode_batch(events[4:]))  # type: ignore[arg-type]
    await ensure_group(client)
    assert await unacknowledged(client) == 1 + 4 + 1
    assert await ingest_once(client, ledger_sink(served), "control-1") == 4
    assert joined(served, academy.class_id) == [e.user_id for e in events if e.seq != 3]
    assert await unacknowledged(client) == 0
    dead = SqliteDeadEvents(served.app[keys.DB]).latest()
    assert [d.id for d in dead] == ["0191-3"] and "UnicodeEncodeError" in dead[0].error


async def test_a_backlog_is_read_in_full_reads_each_acknowledged_with_the_next(
    served: TestServer, academy: Academy, client: Redis, tmp_path: Path
) -> None:
    """Entries read before a restart and never acknowledged are all finished, however many
    reads they take; then new ones are read for as long as ``within`` allows and each read
    is full. Every event once, in order, nothing left pending."""
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    outbox = EventOutbox(sink, "media-2")
    outbox.start()
    learners = academy.student_ids[:12]
    await one_entry_each(outbox, academy.class_id, learners[:5], 10)
    await ensure_group(client)
    read = await client.xreadgroup(GROUP, "control-1", {STREAM: ">"}, count=10)
    assert len(read[0][1]) == 5  # read, then the control node died
    await one_entry_each(outbox, academy.class_id, learners[5:], 10)
    await outbox.stop()
    ingest = ledger_sink(served)
    assert await ingest_once(client, ingest, "control-1", count=2, within=0) == 5 + 2
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0
    assert await ingest_once(client, ingest, "control-1", count=2, pending=False, within=60) == 5
    assert joined(served, academy.class_id) == learners
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0


async def test_a_control_node_restarting_finishes_what_it_had_read(
    served: TestServer, academy: Academy, client: Redis, tmp_path: Path
) -> None:
    """Entries read but not acknowledged (the control node died between its read and the
    commit) are ingested first after the restart; one that had been committed before the crash
    is not doubled."""
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    events = [
        MediaEvent(f"0191-{n}", EventKind.JOINED, academy.class_id, "media-2", n, 1.0 + n,
                   learner, f"p{n}", "learner")
        for n, learner in enumerate(academy.student_ids[:4], start=1)
    ]  # fmt: skip
    for event in events:
        await sink.deliver(event)
    await ensure_group(client)
    read = await client.xreadgroup(GROUP, "control-1", {STREAM: ">"}, count=10)
    assert len(read[0][1]) == 4  # read, then the process died: nothing acknowledged
    await ledger_sink(served).deliver(events[0])  # this one it had committed already
    assert await ingest_once(client, ledger_sink(served), "control-1") == 4
    assert joined(served, academy.class_id) == academy.student_ids[:4]  # each once
    assert (await client.xpending(STREAM, GROUP))["pending"] == 0


@pytest.mark.timeout(60)
async def test_while_redis_is_away_events_wait_on_disk_and_arrive_once_in_order(
    served: TestServer, academy: Academy, redis_server: RedisServer, tmp_path: Path
) -> None:
    r = Redis.from_url(redis_server.url, socket_connect_timeout=0.3, socket_timeout=1)
    try:
        sink = RedisStreamSink(r, DiskBuffer(tmp_path / "buffer.jsonl", bound=20), retry_every=0)
        outbox = EventOutbox(sink, "media-2")
        outbox.start()
        learners = academy.student_ids[:9]
        await joined_all(outbox, academy.class_id, learners[:1], 10)
        redis_server.kill()  # mid-class
        await joined_all(
            outbox, academy.class_id, learners[1:6], 20
        )  # durable on the node's disk: the class goes on
        assert sink.buffer.size == 5 and not sink.buffer.nearly_full
        await sink.heartbeat("media-2", 1.0)  # no error: nobody is judged while Redis is away
        redis_server.start()  # same port, same AOF
        await joined_all(outbox, academy.class_id, learners[6:], 20)
        await outbox.stop()
        assert sink.buffer.size == 0  # replayed before the new ones went in
        await ensure_group(r)
        assert await ingest_once(r, ledger_sink(served), "control-1") == 9
        assert joined(served, academy.class_id) == learners  # none lost, none doubled, in order
    finally:
        await r.aclose()


async def test_the_stream_keeps_what_is_not_yet_committed(
    served: TestServer, academy: Academy, client: Redis, tmp_path: Path
) -> None:
    """Trimming drops only entries that are read, acknowledged and old enough: never one that
    waits for the control node, nor one pending."""
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    outbox = EventOutbox(sink, "media-2")
    outbox.start()
    await one_entry_each(outbox, academy.class_id, academy.student_ids[:6], 10)
    await ensure_group(client)
    assert await ingest_once(client, ledger_sink(served), "control", count=2) == 2  # 2 committed
    await client.xreadgroup(GROUP, "control", {STREAM: ">"}, count=1)  # 1 read, not committed
    later = time.time() + 7200
    assert await trim(client, 3600, time.time()) == 0  # nothing an hour old yet
    assert await trim(client, 3600, later) == 2  # the committed ones only
    assert await client.xlen(STREAM) == 4
    assert await ingest_once(client, ledger_sink(served), "control") == 4
    assert joined(served, academy.class_id) == academy.student_ids[:6]
    await one_entry_each(
        outbox, academy.class_id, academy.student_ids[6:8], 10
    )  # new entries after the last read
    await outbox.stop()
    assert await trim(client, 3600, later + 7200) == 4  # read and committed: gone
    assert await client.xlen(STREAM) == 2  # never read: kept
    assert await ingest_once(client, ledger_sink(served), "control") == 2


async def test_a_batch_goes_into_the_stream_at_once_around_an_unstorable_event(
    client: Redis, tmp_path: Path
) -> None:
    """Events emitted together are one delivery (one pipelined round trip): an event that can
    never be sent stops the batch at itself, the ones before it are durable and the ones after
    it follow, in order; it alone is set aside in the node's dead letters."""
    sink = RedisStreamSink(client, DiskBuffer(tmp_path / "buffer.jsonl"))
    outbox = EventOutbox(sink, "media-2")
    events = [
        outbox.emit(EventKind.JOINED, 7, user_id=n, data={"device": "\ud800"} if n == 3 else {})
        for n in range(1, 6)
    ]
    told = [asyncio.ensure_future(outbox.durable(e)) for e in events]
    outbox.start()
    async with asyncio.timeout(10):
        await outbox.flush()
        answers = await asyncio.gather(*told, return_exceptions=True)
    await outbox.stop()
    assert [a is None for a in answers] == [True, True, False, True, True]
    assert isinstance(answers[2], NotRecorded)
    assert await client.xlen(STREAM) == 2  # the two before it, then the two after it
    assert [e.id for e in await in_stream(client)] == [e.id for e in events if e.user_id != 3]
    assert outbox.dead_letters == sink.dead_letters == 1
    dead = [json.loads(line) for line in sink.dead_path.read_text().splitlines()]
    assert [d["event"]["id"] for d in dead] == [events[2].id]
    assert sink.buffer.size == 0


def test_the_disk_buffer_refuses_joins_before_it_is_full(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.jsonl", bound=10)
    for n in range(9):
        assert not buffer.nearly_full
        buffer.append(MediaEvent(f"e{n}", EventKind.LEFT, 1, "m", n, 0.0))
    assert buffer.nearly_full
    buffer.append(MediaEvent("e9", EventKind.LEFT, 1, "m", 9, 0.0))
    with pytest.raises(OSError, match="full"):
        buffer.append(MediaEvent("e10", EventKind.LEFT, 1, "m", 10, 0.0))
    again = DiskBuffer(tmp_path / "b.jsonl", bound=10)  # a restarted node finds them
    assert again.size == 10 and [e.id for e in again.events()][:2] == ["e0", "e1"]


@pytest.mark.timeout(60)
async def test_a_long_replay_does_not_silence_the_heartbeat(client: Redis, tmp_path: Path) -> None:
    """A node that buffered many events while Redis was away replays them when it is back;
    meanwhile it keeps heart-beating, or the control node would take it for dead."""
    buffer = DiskBuffer(tmp_path / "buffer.jsonl", bound=100_000)
    with buffer.path.open("a", encoding="utf-8") as f:  # what a long outage left on disk
        for n in range(1, 30_001):
            event = MediaEvent(f"e{n}", EventKind.LEFT, 1, "media-1.old", n, float(n))
            f.write(encode(event)["event"] + "\n")
    buffer = DiskBuffer(buffer.path, bound=100_000)
    sink = RedisStreamSink(client, buffer)
    node = MediaNode(
        MediaSettings(node_id="media-1.new"),
        TokenSigner(b"k" * 32),
        sink,
        AiortcBackend((), tmp_path),
    )
    agent = MediaAgent(
        client, node, sink, name="media-1", url="http://127.0.0.1:1/media", capacity=10, every=0.1
    )
    beats: list[float] = []
    await agent.start()
    try:
        async with asyncio.timeout(50):
            while buffer.size:
                raw = await client.hget(NODES, "media-1.new")  # type: ignore[misc]
                if raw is not None:
                    info = NodeInfo.loads(raw)
                    at = info.at
                    if buffer.size:  # a cut-off would be before all it has not sent
                        assert info.backlog_since == 1.0 and info.cut_off == 1.0
                    if not beats or beats[-1] != at:
                        beats.append(at)
                await asyncio.sleep(0.02)
    finally:
        await agent.stop()
    assert [e.id for e in await in_stream(client)] == [f"e{n}" for n in range(1, 30_001)]
    assert len(beats) >= 2, "no heartbeat while replaying"
    assert max(b - a for a, b in itertools.pairwise(beats)) < 1.0


@pytest.mark.timeout(60)
async def test_a_full_buffer_holds_events_until_redis_is_back_and_sets_none_aside(
    served: TestServer, academy: Academy, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis is away and the disk buffer is full: the events that do not fit wait in memory
    and are retried (never set aside for good); those of a batch the buffer took are durable,
    their waiters told so, and not sent a second time."""
    r = Redis.from_url(redis_server.url, socket_connect_timeout=0.3, socket_timeout=1)
    try:
        sink = RedisStreamSink(r, DiskBuffer(tmp_path / "buffer.jsonl", bound=2), retry_every=0)
        outbox = EventOutbox(sink, "media-2", retry_initial=0.01, retry_max=0.05)
        redis_server.kill()
        learners = academy.student_ids[:4]
        events = [
            outbox.emit(EventKind.LEFT, academy.class_id, user_id=u, role="learner")
            for u in learners
        ]
        outbox.start()  # one batch: two fit in the buffer, two do not
        async with asyncio.timeout(5):
            await outbox.durable(events[0])
            await outbox.durable(events[1])
        await asyncio.sleep(1.0)  # many tries while the buffer stays full
        assert outbox.dead_letters == 0
        assert not sink.buffer.path.with_name("buffer.dead.jsonl").exists()
        assert outbox.pending == 2 and sink.buffer.size == 2
        redis_server.start()
        async with asyncio.timeout(20):
            await outbox.flush()
        await outbox.stop()
        assert [e.id for e in await in_stream(r)] == [e.id for e in events]
    finally:
        await r.aclose()


@pytest.mark.parametrize("offset", [-86400.0, 86400.0], ids=["a-day-behind", "a-day-ahead"])
async def test_a_join_token_is_spent_until_it_expires_by_the_nodes_clock(
    client: Redis, tmp_path: Path, offset: float
) -> None:
    """The token's expiry is stamped by the injected clock; the node and Redis judge it by the
    same clock: spent for the rest of its life, here, on a restarted node, and in Redis for
    no longer than that life."""

    def clock() -> float:
        return time.time() + offset

    def node_and_agent(node_id: str) -> MediaNode:
        sink = RedisStreamSink(client, DiskBuffer(tmp_path / f"{node_id}.jsonl"))
        node = MediaNode(
            MediaSettings(node_id=node_id, clock=clock),
            TokenSigner(b"k" * 32),
            sink,
            AiortcBackend((), tmp_path),
        )
        node.gate = MediaAgent(
            client, node, sink, name=node_id, url="http://127.0.0.1:1/media", capacity=10,
            every=1.0,
        )  # fmt: skip
        return node

    node = node_and_agent("media-1")
    until = clock() + 60
    assert await node.spend("t1", until)
    assert not await node.spend("t1", until)  # the same node
    assert not await node_and_agent("media-1.restarted").spend("t1", until)  # after a restart
    assert 50 <= await client.ttl(spent_key("t1")) <= 61  # kept for the token's life only


async def test_the_registers_lag_counts_what_waits_in_the_stream(client: Redis) -> None:
    """The control node's /readyz judges the oldest entry not committed yet: never read (the
    control node is down) or read and not acknowledged (its commit did not happen); /metrics
    counts them."""
    secs, _micros = await client.time()
    old_ms = (int(secs) - 30) * 1000

    def entry(n: int) -> dict[str, str]:
        return encode(MediaEvent(f"e{n}", EventKind.LEFT, 1, "m", n, float(n)))

    assert await oldest_unacknowledged(client) is None  # no stream
    assert await unacknowledged(client) == 0
    await client.xadd(STREAM, entry(1), id=f"{old_ms}-0")  # type: ignore[arg-type]
    age = await oldest_unacknowledged(client)  # nobody has read it
    assert age is not None and 29 <= age < 40
    assert await unacknowledged(client) == 1
    await ensure_group(client)
    age = await oldest_unacknowledged(client)  # the group has not read it
    assert age is not None and 29 <= age < 40
    assert await unacknowledged(client) == 1
    read = await client.xreadgroup(GROUP, "control", {STREAM: ">"}, count=1)
    age = await oldest_unacknowledged(client)  # read, not committed
    assert age is not None and 29 <= age < 40
    await client.xadd(STREAM, entry(2))  # type: ignore[arg-type]
    assert await unacknowledged(client) == 2  # one read, one not
    await client.xack(STREAM, GROUP, read[0][1][0][0])
    age = await oldest_unacknowledged(client)  # the new one, not read yet
    assert age is not None and age < 5
    assert await unacknowledged(client) == 1
    await client.xreadgroup(GROUP, "control", {STREAM: ">"}, count=1)
    await client.xack(STREAM, GROUP, *[i for i, _f in await client.xrange(STREAM)])
    assert await oldest_unacknowledged(client) is None
    assert await unacknowledged(client) == 0
