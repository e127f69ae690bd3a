"""Review findings on the cascade (branch review-cascade), fixed: each test failed before."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from access.events import EventKind
from access.ids import uuid7
from access.models import ClassRole
from streaming.cascade_media import MAX_FRAME_BYTES
from streaming.cascade_relay import TOO_LARGE
from streaming.cluster import MediaAgent
from streaming.cluster_keys import NODES, PLACEMENT, NodeInfo, relays_key
from streaming.participant import CLOSE_CLASS_ENDED, CLOSE_PROTOCOL
from streaming.protocol import MAX_MESSAGE_BYTES
from streaming.redis_events import DiskBuffer, RedisStreamSink
from tests.integration.streaming.cascading import (
    CLASS_ID,
    TEACHER,
    VIEWER,
    Node,
    nodes,
    relayed,
    until,
)
from tests.peers import connect
from tests.redis_server import RedisServer

__all__ = ["nodes"]

pytestmark = pytest.mark.timeout(60)

OTHER = 4


async def test_one_relay_viewer_cannot_cut_the_link_for_all(nodes: tuple[Node, Node]) -> None:
    """A viewer sends one text message under its socket's 1 MiB limit, made of control
    characters: json.dumps escapes each to 6 bytes, the "from" frame passes the link's 4 MiB
    limit, the origin closes the link (1009): every viewer on the relay is dropped."""
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    attacker = await relay.join(VIEWER, ClassRole.LEARNER)
    other = await relay.join(OTHER, ClassRole.LEARNER)
    link = cascade.links[CLASS_ID]
    ws_before = link._ws
    await attacker.ws.send_str("\x01" * 800_000)
    refused = await attacker.wait_for("error")  # as a direct connection is refused
    assert refused["code"] == "too_large", refused
    assert await attacker.wait_closed() == CLOSE_PROTOCOL
    with pytest.raises(TimeoutError):
        await other.wait_closed(timeout=3)
    assert link._ws is ws_before and not ws_before.closed
    await other.send("ping")
    await other.wait_for("pong")  # still served through the link

    def left() -> list[str]:
        got = origin.events.got
        return [e.data["reason"] for e in got if e.user_id == VIEWER and e.kind is EventKind.LEFT]

    await until(left, 5)
    assert left() == ["protocol error: too_large"]
    await cascade.stop()
    for peer in (teacher, attacker, other):
        await peer.close()


def test_the_link_takes_the_longest_message_a_viewer_may_send_in_any_text() -> None:
    """Piped as json.dumps makes it: the worst escaping of the longest message a direct
    connection takes (a character outside the BMP, 12 bytes) still fits the link's limit."""
    for char in ("\U0001f600", "\x01", "\ud800", '"'):
        doc = {"type": "from", "pid": str(uuid7()), "message": char * MAX_MESSAGE_BYTES}
        assert len(json.dumps(doc).encode()) < MAX_FRAME_BYTES
    assert len(TOO_LARGE) > MAX_MESSAGE_BYTES
    assert len(json.dumps(TOO_LARGE)) < MAX_FRAME_BYTES


async def test_a_join_on_the_relay_after_the_class_ended_is_told_so(
    nodes: tuple[Node, Node],
) -> None:
    """The class ended: a join on the origin is refused "class_ended"; on the relay the dead
    link stays in node.relays, the socket waits LINK_WAIT and is told "server_stopping, try
    again" (the client retries instead of showing the end)."""
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    await teacher.send("end_class")
    await viewer.wait_for("ended")
    await until(lambda: relay.node.rooms[CLASS_ID].ended, 5)
    token = relay.signer.mint_join(
        user_id=OTHER,
        class_id=CLASS_ID,
        role=ClassRole.LEARNER,
        display_name="late",
        media_url=relay.url,
    )
    late = await connect(relay.ws_url, token)
    error = await late.wait_for("error", timeout=10)
    assert error["code"] == "class_ended", error
    assert await late.wait_closed() == CLOSE_CLASS_ENDED
    # The ended link is done with: no longer counted (sabaq_relayed_classes), nor kept.
    await until(lambda: CLASS_ID not in relay.node.relays and CLASS_ID not in cascade.links, 5)
    await cascade.stop()
    for peer in (teacher, viewer, late):
        await peer.close()
    await asyncio.sleep(0)


@pytest.fixture
async def redis_client(tmp_path: Path) -> AsyncIterator[Redis]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    r = Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=2)
    yield r
    await r.aclose()
    server.kill()


async def test_a_class_placed_anew_on_its_relay_is_served_there(
    nodes: tuple[Node, Node], redis_client: Redis, tmp_path: Path
) -> None:
    """The origin goes (a restart, a death): its placements released, the class is placed
    anew on the one live node, its former relay. The relay's link to the dead origin stays
    in node.relays (the gate's hosts() returns early when placed here, the heartbeat keeps a
    class placed here): every join, the teacher's too, is piped to a link that never comes
    up, "server_stopping, try again", for ever."""
    origin, relay = nodes
    sink = RedisStreamSink(redis_client, DiskBuffer(tmp_path / "relay.jsonl"))
    agent = MediaAgent(
        redis_client, relay.node, sink, name="relay", url=relay.url, capacity=100, every=1.0
    )
    relay.node.gate = agent
    now = time.time()
    info = NodeInfo("origin", "origin", origin.url, 100, 1, 1, now, now)
    await redis_client.hset(NODES, "origin", info.dumps())  # type: ignore[misc]
    await redis_client.hset(PLACEMENT, str(CLASS_ID), "origin")  # type: ignore[misc]
    await redis_client.sadd(relays_key(CLASS_ID), "relay")  # type: ignore[misc]
    teacher = await origin.join(TEACHER, ClassRole.HOST)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)  # piped through the gate's link

    await origin.node.close()  # the origin goes; the control plane places the class anew
    await origin.server.close()
    await redis_client.hdel(NODES, "origin")  # type: ignore[misc]
    await redis_client.hset(PLACEMENT, str(CLASS_ID), "relay")  # type: ignore[misc]
    await viewer.wait_closed()
    await agent.beat_once()  # the relay's heartbeat sees the class placed here

    token = relay.signer.mint_join(
        user_id=TEACHER,
        class_id=CLASS_ID,
        role=ClassRole.HOST,
        display_name="teacher",
        media_url=relay.url,
    )
    again = await connect(relay.ws_url, token)
    await until(lambda: again.messages, 10)
    assert again.messages[0]["type"] == "welcome", again.messages[0]
    assert CLASS_ID not in relay.node.relays and CLASS_ID not in agent.cascade.links
    assert relay.node.rooms[CLASS_ID].participants  # served by a room here
    await agent.cascade.stop()
    for peer in (teacher, viewer, again):
        await peer.close()
