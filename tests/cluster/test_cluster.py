"""The cluster as separate processes (issue 7): one `sabaq control`, two `sabaq media`, a real
redis-server with AOF between them, aiortc participants in classes on both nodes. A media node
killed mid-class, Redis killed mid-class, a second control node."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from typing import Any

import pytest
import redis
from aiohttp import ClientSession

from access.events import EventKind
from attendance.models import LedgerEvent, counts
from attendance.presence import intervals_by_user
from attendance.recovery import RECOVERY_NODE, SERVER_STOPPED
from control.redis_ingest import GROUP
from streaming.cluster_keys import NODES
from streaming.events import MediaEvent
from streaming.redis_events import STREAM, decode_entry
from tests.cluster_procs import (
    Cluster,
    Proc,
    RedisCut,
    cluster,
    session_cookies,
    teacher_and_student,
    until,
)
from tests.conftest import Academy
from tests.redis_server import RedisServer

__all__ = ["cluster"]

pytestmark = pytest.mark.timeout(150)


def kinds_of(events: list[LedgerEvent], user_id: int, class_id: int) -> list[EventKind]:
    return [
        le.event.kind
        for le in events
        if le.event.user_id == user_id and le.event.class_id == class_id
    ]


async def assert_nothing_lost_or_doubled(c: Cluster, server: RedisServer) -> None:
    """Every stream entry is acknowledged and in the ledger; every node's events are in the
    ledger once each, none missing between its first and its last (a node numbers its events
    without gaps)."""
    client = redis.Redis(port=server.port)

    def ingested() -> bool:
        ids = {le.event.id for le in c.ledger()}
        stream: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(STREAM)  # type: ignore[assignment]
        pending: dict[str, Any] = client.xpending(STREAM, GROUP)  # type: ignore[assignment]
        entries = {e.id for _, f in stream for e in decode_entry(f) if isinstance(e, MediaEvent)}
        return pending["pending"] == 0 and entries <= ids

    try:
        await until(ingested, "every stream entry in the ledger")
    finally:
        client.close()
    events = c.ledger()
    by_node: dict[str, list[int]] = defaultdict(list)
    for le in events:
        if le.event.node not in (RECOVERY_NODE, "control", "web"):
            by_node[le.event.node].append(le.event.node_seq)
    assert by_node, "no media node's events reached the ledger"
    for node, seqs in by_node.items():
        assert sorted(seqs) == list(range(1, max(seqs) + 1)), f"{node}: {sorted(seqs)}"
    ids = [le.event.id for le in events]
    assert len(ids) == len(set(ids))


async def start(c: Cluster, **media_env: str) -> tuple[Proc, Proc, Proc]:
    m1, m2 = c.media("media-1", **media_env), c.media("media-2", **media_env)
    m1.start()
    m2.start()
    await m1.ready()
    await m2.ready()
    control = c.control()
    control.start()
    await control.ready()
    return control, m1, m2


async def test_classes_on_two_nodes_and_one_killed(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    c, server, a = cluster
    control, m1, m2 = await start(c)
    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher2 = c.member(control, a.other_teacher_id, a.other_class_id, publishes=True)
    teacher.start()
    teacher2.start()
    at_a, at_b = await teacher.welcomed(), await teacher2.welcomed()
    assert at_a != at_b, "the second class went to the node that was already loaded"
    student = c.member(control, a.student_ids[0], a.class_id)
    outsider = c.member(control, a.outsider_id, a.other_class_id)
    student.start()
    outsider.start()
    assert await student.welcomed() == at_a
    assert await outsider.welcomed() == at_b
    assert student.peer is not None and outsider.peer is not None
    await student.peer.wait_frames(5, timeout=20)
    await outsider.peer.wait_frames(5, timeout=20)

    def joined_everyone() -> bool:
        events = c.ledger()
        return all(
            EventKind.JOINED in kinds_of(events, uid, cid)
            for uid, cid in (
                (a.teacher_id, a.class_id),
                (a.student_ids[0], a.class_id),
                (a.other_teacher_id, a.other_class_id),
                (a.outsider_id, a.other_class_id),
            )
        )

    await until(joined_everyone, "attendance from both nodes in the ledger")
    events = c.ledger()
    nodes_a = {le.event.node for le in events if le.event.class_id == a.class_id}
    nodes_b = {le.event.node for le in events if le.event.class_id == a.other_class_id}
    assert nodes_a.isdisjoint(nodes_b)

    # The node of class A is killed: its class starts again on the other node.
    victim, survivor = (m1, m2) if at_a.startswith(m1.base) else (m2, m1)
    victim.kill()
    killed_at = time.time()

    def closed_at_heartbeat() -> bool:
        closes = [
            le.event
            for le in c.ledger()
            if le.event.data.get("reason") == SERVER_STOPPED and le.event.class_id == a.class_id
        ]
        return {e.user_id for e in closes} == {a.teacher_id, a.student_ids[0]}

    await until(closed_at_heartbeat, "the dead node's open intervals closed")
    closes = [le.event for le in c.ledger() if le.event.data.get("reason") == SERVER_STOPPED]
    for e in closes:
        assert killed_at - 1.5 < e.origin_time <= killed_at, (e, killed_at)
        assert e.data["heartbeat"] is not None and e.data["heartbeat"] <= e.origin_time + 1e-3
    await until(lambda: len(teacher.joined_at) > 1, "the teacher back in the class")
    await until(lambda: len(student.joined_at) > 1, "the student back in the class")
    assert teacher.joined_at[-1].startswith(survivor.base)
    assert student.joined_at[-1].startswith(survivor.base)
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)  # the teacher's video again
    assert outsider.joined_at == [at_b]  # the other class went on untouched

    def rejoined_on_survivor() -> bool:
        events = c.ledger()
        return all(
            any(
                le.event.kind is EventKind.JOINED
                and le.event.user_id == uid
                and le.event.node.startswith(survivor.env["SABAQ_NODE_ID"] + ".")
                for le in events
            )
            for uid in (a.teacher_id, a.student_ids[0])
        )

    await until(rejoined_on_survivor, "the rejoins recorded by the surviving node")
    await student.say_goodbye()
    for m in (teacher, teacher2, outsider):
        await m.leave()
    await until(
        lambda: EventKind.LEFT in kinds_of(c.ledger(), a.student_ids[0], a.class_id),
        "the student's leaving recorded",
    )
    await assert_nothing_lost_or_doubled(c, server)


async def test_redis_killed_mid_class(cluster: tuple[Cluster, RedisServer, Academy]) -> None:
    c, server, a = cluster
    control, _, _ = await start(c)
    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher.start()
    where = await teacher.welcomed()
    first = c.member(control, a.student_ids[0], a.class_id)
    first.start()
    await first.welcomed()
    assert first.peer is not None
    await first.peer.wait_frames(5, timeout=20)

    server.kill()
    # Longer than a node may be silent: nobody may be declared dead while Redis is away.
    await asyncio.sleep(0.5)
    await first.peer.wait_frames(first.peer.frames + 20, timeout=10)  # the class goes on
    second = c.member(control, a.student_ids[1], a.class_id)
    second.start()
    assert await second.welcomed() == where  # let in: the control node knows where it is
    await first.say_goodbye()
    await asyncio.sleep(2.5)
    assert teacher.joined_at == [where]
    server.start()

    def arrived() -> bool:
        events = c.ledger()
        return EventKind.JOINED in kinds_of(
            events, a.student_ids[1], a.class_id
        ) and EventKind.LEFT in kinds_of(events, a.student_ids[0], a.class_id)

    await until(arrived, "the events buffered on disk in the ledger")
    await asyncio.sleep(3)  # longer than a node may be silent, with Redis back
    events = c.ledger()
    assert not [le for le in events if le.event.data.get("reason") == SERVER_STOPPED]
    assert teacher.joined_at == [where]
    for m in (teacher, second):
        await m.leave()
    await assert_nothing_lost_or_doubled(c, server)


async def test_one_control_node_at_a_time(cluster: tuple[Cluster, RedisServer, Academy]) -> None:
    c, server, a = cluster
    control, _, _ = await start(c)
    second = c.control()
    second.start()
    assert second.wait_exit() == 2
    assert "Another control node" in second.output()

    teacher, student = await teacher_and_student(c, control, a)
    await until(
        lambda: EventKind.JOINED in kinds_of(c.ledger(), a.student_ids[0], a.class_id),
        "the join in the ledger",
    )
    control.kill()
    await student.say_goodbye()  # the class goes on; its events wait in the stream
    assert student.peer is not None
    await asyncio.sleep(2.5)  # the killed node's lock lapses
    third = c.control()
    third.start()
    await third.ready()
    await until(
        lambda: EventKind.LEFT in kinds_of(c.ledger(), a.student_ids[0], a.class_id),
        "the waiting event ingested by the new control node",
    )
    assert teacher.joined_at == teacher.joined_at[:1]  # the class never stopped
    await teacher.leave()
    await assert_nothing_lost_or_doubled(c, server)


async def test_a_node_whose_buffer_nears_its_bound_takes_nobody_new(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    """Redis away long enough for a node's disk buffer to near its bound (here 10 events): the
    people in the class stay; a newcomer is told to try later; once Redis is back the buffer
    is replayed and the newcomer gets in, with nothing lost."""
    c, server, a = cluster
    control, _, _ = await start(c, SABAQ_EVENT_BUFFER_EVENTS="10")
    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher.start()
    where = await teacher.welcomed()
    server.kill()
    # Students come and go while Redis is away: eight events on disk, and the ninth (a join)
    # fills the buffer to nine tenths of its bound.
    for uid in (*a.student_ids[:3], a.student_ids[1]):
        m = c.member(control, uid, a.class_id)
        m.start()
        assert await m.welcomed() == where
        await m.say_goodbye()
    stays = c.member(control, a.student_ids[0], a.class_id)
    stays.start()
    await stays.welcomed()
    assert stays.peer is not None
    await stays.peer.wait_frames(3, timeout=20)  # the class goes on
    late = c.member(control, a.student_ids[2], a.class_id)
    late.start()
    await until(lambda: "events_backlog" in late.refusals, "the newcomer told to wait")
    assert stays.peer.closed_code is None  # nobody in the class was sent away
    server.start()
    assert await late.welcomed(timeout=20) == where

    def joined_twice() -> bool:  # once in the round above, once now
        return kinds_of(c.ledger(), a.student_ids[2], a.class_id).count(EventKind.JOINED) == 2

    await until(joined_twice, "the newcomer's join in the ledger")
    await asyncio.sleep(0.5)
    await assert_nothing_lost_or_doubled(c, server)


async def test_a_node_cut_off_from_redis_is_replaced_and_comes_back_as_a_new_node(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    """Only media-1 loses Redis (a partition): it is declared dead while its people are still
    connected to it; a student who reloads is placed on media-2. When the cut heals, what
    media-1 buffered (the student leaving it, say) is kept but not counted — the student's stay
    on media-2 is not cut short — and media-1 lets go of the class and goes on as a new node."""
    c, server, a = cluster
    cut = RedisCut(server.port)
    m1 = c.media("media-1", REDIS_URL=f"redis://127.0.0.1:{await cut.start()}/0")
    m1.start()
    await m1.ready()
    control = c.control()
    control.start()
    await control.ready()
    try:
        teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
        teacher.start()
        assert (await teacher.welcomed()).startswith(m1.base)
        first = c.member(control, a.student_ids[0], a.class_id)
        first.start()
        assert (await first.welcomed()).startswith(m1.base)
        m2 = c.media("media-2")
        m2.start()
        await m2.ready()
        cut.sever()

        def declared_dead() -> bool:
            return any(le.event.data.get("reason") == SERVER_STOPPED for le in c.ledger())

        await until(declared_dead, "media-1 declared dead")
        await first.say_goodbye()  # the page reloaded: its leaving waits on media-1's disk
        again = c.member(control, a.student_ids[0], a.class_id)
        again.start()
        assert (await again.welcomed()).startswith(m2.base)
        moved_at = time.time()
        cut.heal()
        await until(lambda: len(teacher.joined_at) > 1, "the teacher moved to media-2")
        assert teacher.joined_at[-1].startswith(m2.base)
        await asyncio.sleep(2)
        events = [le for le in c.ledger() if le.event.class_id == a.class_id]
        late = [le.event for le in events if not counts(le.event.data)]
        assert any(e.kind is EventKind.LEFT and e.user_id == a.student_ids[0] for e in late)
        stays = intervals_by_user(events, grace=60)[a.student_ids[0]]
        assert stays[-1].end is None and stays[-1].start <= moved_at  # still in, on media-2
        client = redis.Redis(port=server.port)
        try:
            registry = {json.loads(v)["name"]: k.decode() for k, v in client.hgetall(NODES).items()}  # type: ignore[union-attr]
        finally:
            client.close()
        # Staff see on the register whose presence was not counted, to check and correct.
        staff = session_cookies(c.control_dir / "sabaq.sqlite3", a.staff_id)
        async with ClientSession(cookies=staff) as http:
            page = await (await http.get(f"{control.base}/classes/{a.class_id}/attendance")).text()
        notice = re.search(r'<p class="notice" role="status" id="uncounted">(.*?)</p>', page)
        assert notice is not None and "Студент 01" in notice.group(1)
        old_ids = {le.event.node for le in events if le.event.node.startswith("media-1.")}
        assert registry["media-1"] not in old_ids  # back, as a new node
        await again.say_goodbye()
        for m in (teacher,):
            await m.leave()
        await assert_nothing_lost_or_doubled(c, server)
    finally:
        await cut.close()
