"""Cascading in a cluster (issue 24): the control node and two media nodes as applications on
loopback ports in this process, a real redis-server between them. A lecture's origin fills, the
placement sends the next viewer to the other node, which relays the class from the origin:
one viewer on each node receives the teacher's video, and the relay's viewer, a participant of
the origin's room (its socket piped there), reaches the ledger and the live roster from the
origin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from access.events import EventKind
from streaming.cluster_keys import relays_key
from tests.cluster.test_cluster_commands import enter, served_cluster
from tests.conftest import Academy, SignIn
from tests.peers import connect, join_token, publish
from web.core import keys
from web.core.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[TestServer]:
    """The control node (what the shared fixtures sign in to), with two media nodes of two
    places each (the teacher and one viewer fill one)."""
    async with served_cluster(settings, tmp_path, node_capacity=2) as control:
        yield control


async def test_a_full_origin_sends_the_next_viewer_to_a_relay(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    cluster = app[keys.CLUSTER]
    async with asyncio.timeout(10):
        while len(await cluster.nodes()) < 2:
            await asyncio.sleep(0.05)
    teacher = await enter(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    near = await enter(sign_in(academy.student_ids[0]), academy.class_id)
    origin = await cluster.node_for(academy.class_id, 1)
    async with asyncio.timeout(10):  # the origin's heartbeat says it is full
        while (await cluster.nodes())[origin.id].participants < 2:
            await asyncio.sleep(0.05)

    # The class page's join token for the next learner names the other node, made a relay of
    # the class; a publisher still goes to the origin.
    student = academy.student_ids[1]
    grant = await join_token(sign_in(student), academy.class_id)
    nodes = await cluster.nodes()
    relay = next(n for n in nodes.values() if n.url == grant["media_url"])
    assert relay.id != origin.id
    async with aioredis.Redis.from_url(app[keys.SETTINGS].redis_url) as client:
        members = await client.smembers(relays_key(academy.class_id))  # type: ignore[misc]
    assert {m.decode() for m in members} == {relay.id}
    assert (await cluster.node_for(academy.class_id, 1)).id == origin.id
    url = f"{relay.url}/classes/{academy.class_id}/ws".replace("http://", "ws://")
    far = await connect(url, grant["token"])
    await far.wait_for("welcome")
    for viewer in (near, far):
        await viewer.wait_frames(10)

    # The relay's viewer's join reaches the ledger, from the origin (the class's one room).
    def joined_at() -> set[str]:
        return {
            le.event.node
            for le in app[keys.LEDGER].events(academy.class_id)
            if le.event.kind is EventKind.JOINED and le.event.user_id == student
        }

    async with asyncio.timeout(10):
        while joined_at() != {origin.id}:
            await asyncio.sleep(0.05)
    # Heartbeats later, the relay still relays (it does not let go of a class placed on the
    # origin), and the control node's live roster, the origin's, counts the relay's viewer;
    # the origin's load does not (its media is the relay's), the relay's does.
    await asyncio.sleep(1.0)
    before = far.frames
    await far.wait_frames(before + 10)
    everyone = {academy.teacher_id, academy.student_ids[0], student}
    assert cluster.roster.present(academy.class_id) == everyone
    loads = {n.id: n.participants for n in (await cluster.nodes()).values()}
    assert loads == {origin.id: 2, relay.id: 1}
    for peer in (far, near, teacher):
        await peer.close()
