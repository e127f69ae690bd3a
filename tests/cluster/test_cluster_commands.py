"""Commands and the live roster in a cluster (issue 7): the control node and two media nodes as
applications on loopback ports in this process, a real redis-server between them. What staff do
on the control node reaches the node that hosts the class by pub/sub and is answered."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from attendance.sqlite_heartbeats import SqliteHeartbeats
from control.cluster import Cluster
from control.placement import NoMediaNode
from scheduler.models import ClassFormat, ClassKind
from scheduler.planning import Actor
from streaming.cluster_keys import NODES, PLACEMENT, NodeInfo, barred_key, closed_key
from tests.conftest import Academy, Client, SignIn, class_ahead, free_port
from tests.integration.admission.test_admission_status import _add, _programmes, _record
from tests.peers import Peer, connect, join_token, publish
from tests.redis_server import RedisServer
from web.core import keys
from web.core.app import create_app, create_media_app
from web.core.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[TestServer]:
    """The control node (what the shared fixtures sign in to), with two media nodes."""
    async with served_cluster(settings, tmp_path) as control:
        yield control


@contextlib.asynccontextmanager
async def served_cluster(
    settings: Settings, tmp_path: Path, **changes: Any
) -> AsyncIterator[TestServer]:
    """The control node and two media nodes as applications on loopback ports in this process,
    a real redis-server between them; ``changes`` to the settings of all three."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    cluster = dataclasses.replace(
        settings,
        redis_url=server.url,
        node_heartbeat_seconds=0.2,
        node_dead_after_seconds=1.0,
        control_lock_seconds=2.0,
        **changes,
    )
    media = []
    for name in ("media-1", "media-2"):
        port = free_port()
        node = dataclasses.replace(
            cluster,
            data_dir=tmp_path / name,
            node_id=name,
            media_url=f"http://127.0.0.1:{port}/media",
        )
        m = TestServer(create_media_app(node), host="127.0.0.1", port=port)
        await m.start_server()
        media.append(m)
    control = TestServer(create_app(cluster, role="control"), host="127.0.0.1", port=free_port())
    await control.start_server()
    try:
        yield control
    finally:
        await control.close()
        for m in media:
            await m.close()
        server.kill()


async def enter(client: Client, class_id: int) -> Peer:
    """Join as the page does: a join token from the control node, then the node it names."""
    grant = await join_token(client, class_id)
    url = f"{grant['media_url']}/classes/{class_id}/ws".replace("http://", "ws://")
    peer = await connect(url, grant["token"])
    await peer.wait_for("welcome")
    return peer


async def present(served: TestServer, class_id: int) -> set[int]:
    return await served.app[keys.MEDIA_CONTROL].present_user_ids(class_id)


async def test_roster_and_commands_reach_the_hosting_node(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner, other = academy.student_ids[0], academy.student_ids[1]
    exam = _add(tt, academy, p.pg_group, ClassKind.MIDTERM_CONTROL, 100, "Уголовное право")
    teacher = await enter(sign_in(academy.teacher_id), exam.id)
    await publish(teacher)
    student = await enter(sign_in(learner), exam.id)
    neighbour = await enter(sign_in(other), exam.id)
    await student.wait_frames(1)
    # The live roster, published by the node, known to the control node.
    want = {academy.teacher_id, learner, other}
    async with asyncio.timeout(10):
        while await present(served, exam.id) != want:
            await asyncio.sleep(0.05)

    # Staff record the learner as not admitted on the control node: the node hosting the
    # class takes them out, with the words of the group's language.
    staff = sign_in(academy.staff_id)
    key = f"{p.postgraduate}:{p.criminal_law}"
    assert await _record(staff, learner, key, "assignments_incomplete") == 303
    error = await student.wait_for("error")
    assert error["code"] == "not_admitted"
    assert "не выполнены задания" in error["message"]
    await student.wait_closed()
    async with asyncio.timeout(10):
        while learner in await present(served, exam.id):
            await asyncio.sleep(0.05)
    await student.close()
    assert other in await present(served, exam.id)  # the others stay
    # Barred in Redis: a node asked later (this one, or one the class moves to) knows it.
    r = aioredis.Redis.from_url(served.app[keys.SETTINGS].redis_url)
    try:
        assert await r.hexists(barred_key(exam.id), str(learner))  # type: ignore[misc]
        # Debt cleared: let back in.
        assert await _record(staff, learner, key, "admitted", "Задолженность отработана") == 303
        assert not await r.hexists(barred_key(exam.id), str(learner))  # type: ignore[misc]
        again = await enter(sign_in(learner), exam.id)
        async with asyncio.timeout(10):
            while learner not in await present(served, exam.id):
                await asyncio.sleep(0.05)
        await again.close()

        # The command to end the class is answered by its node; everyone there is told.
        control = served.app[keys.MEDIA_CONTROL]
        assert await control.end_class(exam.id, "ended_by_staff")
        assert (await neighbour.wait_for("ended"))["type"] == "ended"
        # Once the end is in the ledger, the class is no longer placed anywhere.
        async with asyncio.timeout(10):
            while await r.hget(PLACEMENT, str(exam.id)) is not None:  # type: ignore[misc]
                await asyncio.sleep(0.05)
        # A command for a class on no node is answered at once: not done.
        assert not await control.end_class(exam.id, "ended_by_staff")
        assert await present(served, exam.id) == set()
    finally:
        await r.aclose()
    await neighbour.close()
    await teacher.close()


async def test_a_silent_node_is_declared_dead_only_while_redis_answers(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The watch itself: a node whose heartbeat stops is dead after the bound; its classes are
    free to be placed again; a node that answers is never touched."""
    cluster = served.app[keys.CLUSTER]
    async with asyncio.timeout(10):
        while len(await cluster.nodes()) < 2:
            await asyncio.sleep(0.05)
    teacher = await enter(sign_in(academy.teacher_id), academy.class_id)
    nodes = await cluster.nodes()
    hosting = await cluster.node_for(academy.class_id, 1)
    # The class page may open a WebSocket to every media node (and only to them).
    page = await sign_in(academy.teacher_id).get(f"/classes/{academy.class_id}")
    policy = page.headers["Content-Security-Policy"]
    connect_src = next(d for d in policy.split(";") if d.strip().startswith("connect-src"))
    for node in nodes.values():
        origin = node.url.removesuffix("/media")
        assert origin in connect_src
        assert origin.replace("http://", "ws://") in connect_src
    assert len(connect_src.split()) == 2 + 2 * len(nodes)  # the directive, self, the nodes
    await asyncio.sleep(2.5)  # longer than dead_after: heart-beating nodes stay
    assert set(await cluster.nodes()) == set(nodes)
    assert (await cluster.node_for(academy.class_id, 1)).id == hosting.id
    await teacher.close()


async def test_a_remove_lost_on_the_way_is_made_good_by_the_node(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The node's subscription drops just as staff revoke someone: the command reaches nobody,
    but the person is barred in Redis, and the node takes them out at its next heartbeat."""
    class_id, learner = academy.class_id, academy.student_ids[0]
    teacher = await enter(sign_in(academy.teacher_id), class_id)
    await publish(teacher)
    student = await enter(sign_in(learner), class_id)
    async with asyncio.timeout(10):
        while learner not in await present(served, class_id):
            await asyncio.sleep(0.05)
    r = aioredis.Redis.from_url(served.app[keys.SETTINGS].redis_url)
    try:
        assert await r.client_kill_filter(_type="pubsub")
    finally:
        await r.aclose()
    await served.app[keys.MEDIA_CONTROL].remove_user(class_id, learner, "revoked", "Отозвано")
    error = await student.wait_for("error", timeout=10)
    assert error["code"] == "revoked" and error["message"] == "Отозвано"
    await student.close()
    await teacher.close()


async def test_people_already_in_are_not_counted_twice_when_placing(
    served: TestServer, academy: Academy
) -> None:
    """At the top of the hour classes start one after another: the people of a class placed a
    minute ago who have come are in the node's load once (not once as expected and again as
    present), so no class is refused while the nodes have room."""
    app = served.app
    # A registry of two nodes of its own (Redis database 1): the running nodes keep to 0.
    r = aioredis.Redis.from_url(app[keys.SETTINGS].redis_url.removesuffix("/0") + "/1")
    cluster = Cluster(
        r, app[keys.LEDGER], SqliteHeartbeats(app[keys.DB]), app[keys.CHANGES], dead_after=15
    )
    try:
        load = {"n1": 0, "n2": 0}
        placed = 0
        for class_id in range(1001, 1021):  # 20 classes of 26 for 400 places
            for n, people in load.items():
                info = NodeInfo(n, n, f"http://{n}.test/media", 200, people, 0, 0.0, time.time())
                await r.hset(NODES, n, info.dumps())  # type: ignore[misc]
            try:
                node = await cluster.node_for(class_id, 26)
            except NoMediaNode:
                break
            placed += 1
            load[node.id] += 26  # they all come; the node publishes its roster, and reports
            cluster.roster_heard(
                json.dumps({"node": node.id, "class_id": class_id, "present": list(range(26))})
            )
        # A node with room takes a class (its capacity is a guide, not a wall): seven classes
        # fill 182 of 200, the eighth goes there too, and then both nodes are full.
        assert placed == 16
        assert load == {"n1": 8 * 26, "n2": 8 * 26}
    finally:
        await r.aclose()


async def test_a_class_cancelled_or_held_in_person_after_the_join_token_is_refused_so(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """As in one process (``test_refusals``): the media node has no timetable, the control
    node tells it through Redis that a class was cancelled (with the reason) or is held in
    person again (an emergency switch lifted), and a join token fetched before is refused so,
    not as an ended class; switched online again, the class is open again."""
    tt = served.app[keys.TIMETABLE]
    teacher = sign_in(academy.teacher_id)
    in_person = class_ahead(served.app, academy, timedelta(hours=2), ClassFormat.IN_PERSON)
    day = in_person.starts_at.astimezone(ZoneInfo(tt.group(academy.group_id).timezone)).date()
    staff = Actor(academy.staff_id, "Жанна")
    switch = tt.switch_online(day, day, [academy.group_id], by=staff, reason="буран")
    grants = [await join_token(teacher, c) for c in (academy.class_id, in_person.id)]
    tt.cancel_class(academy.class_id, by=staff, reason="болезнь")
    tt.undo_switch(switch.id, by=staff)
    r = aioredis.Redis.from_url(served.app[keys.SETTINGS].redis_url)
    try:
        async with asyncio.timeout(10):  # the control node follows the timetable's log
            while await r.exists(closed_key(academy.class_id), closed_key(in_person.id)) < 2:
                await asyncio.sleep(0.05)
        for grant, class_id, code, reason in (
            (grants[0], academy.class_id, "class_cancelled", "болезнь"),
            (grants[1], in_person.id, "not_online", None),
        ):
            url = f"{grant['media_url']}/classes/{class_id}/ws".replace("http://", "ws://")
            peer = await connect(url, grant["token"])
            error = await peer.wait_for("error")
            assert (error["code"], error.get("reason")) == (code, reason)
            assert await peer.wait_closed() == 4000
            await peer.close()
        tt.switch_online(day, day, [academy.group_id], by=staff, reason="буран")
        async with asyncio.timeout(10):  # online again: the nodes let people in
            while await r.exists(closed_key(in_person.id)):
                await asyncio.sleep(0.05)
    finally:
        await r.aclose()
