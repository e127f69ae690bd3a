"""Cascading with real processes (issue 24): a control node and three media nodes of two places
each, a real redis-server. A lecture's teacher and first learner fill its origin; the next
learner's join token names another node, which relays the lecture: both see the teacher, the
relay's viewer's keyframe request reaches the teacher, the floor given to it reaches the
origin's viewer and the floor given to the origin's learner reaches it, each node's /metrics
says what it relays; that relay is SIGKILLed and its viewer is back with video on the third
node, by the same path as the class page's."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from access.events import EventKind
from streaming.cluster_keys import NODES, NodeInfo
from tests.cluster_procs import Cluster, Proc, cluster, until
from tests.conftest import Academy
from tests.peers import Peer, publish
from tests.redis_server import RedisServer
from tests.scrape import scrape, value

__all__ = ["cluster"]

pytestmark = pytest.mark.timeout(120)


def node_of(nodes: list[Proc], media_url: str) -> Proc:
    return next(n for n in nodes if media_url.startswith(n.base))


async def counted(node: Proc, name: str, before: float) -> bool:
    return value(await scrape(f"{node.base}/metrics"), name) > before


async def frames_from(peer: Peer, source: str) -> bool:
    return peer.video_by_source.get(source, 0) >= 5


async def full(r: Redis, node: Proc) -> bool:
    infos = [NodeInfo.loads(raw) for raw in (await r.hgetall(NODES)).values()]  # type: ignore[misc]
    return any(i.url.startswith(node.base) and i.participants >= 2 for i in infos)


async def test_a_lecture_over_an_origin_and_relays_survives_a_relays_death(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    c, server, a = cluster
    nodes = [c.media(f"media-{n}", SABAQ_NODE_CAPACITY="2") for n in (1, 2, 3)]
    for m in nodes:
        m.start()
    for m in nodes:
        await m.ready()
    control = c.control()
    control.start()
    await control.ready()

    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher.start()
    origin = node_of(nodes, await teacher.welcomed())
    near = c.member(control, a.student_ids[0], a.class_id)
    near.start()
    assert node_of(nodes, await near.welcomed()) is origin
    # Placement weighs a node by its heartbeats and the people sent to it since: wait for the
    # heartbeat that shows the learner in (one taken between the token and the welcome would
    # not show them, for a heartbeat's interval).
    async with Redis.from_url(server.url) as r:
        await until(lambda: full(r, origin), "the origin's heartbeat shows it full")
    far = c.member(control, a.student_ids[1], a.class_id)
    far.start()
    relay = node_of(nodes, await far.welcomed())
    assert relay is not origin  # the origin is full: the learner is served by a relay
    for viewer in (near, far):
        assert viewer.peer is not None
        await viewer.peer.wait_frames(10, timeout=20)  # the teacher's video on both nodes
    assert teacher.peer is not None and near.peer is not None and far.peer is not None
    host, watcher, relayed = teacher.peer, near.peer, far.peer
    teacher_id, far_id = host.participant_id, relayed.participant_id

    # A keyframe asked for by the relay's viewer reaches the teacher on the origin; what each
    # node does is on its /metrics.
    before = value(await scrape(f"{origin.base}/metrics"), "sabaq_keyframe_requests_total")
    await asyncio.sleep(0.4)  # past the interval that merges requests
    await relayed.ask_keyframe(teacher_id)
    await until(
        lambda: counted(origin, "sabaq_keyframe_requests_total", before), "the keyframe request"
    )
    on_origin = await scrape(f"{origin.base}/metrics")
    on_relay = await scrape(f"{relay.base}/metrics")
    assert value(on_origin, "sabaq_relay_links") == 1
    assert value(on_origin, "sabaq_link_frames_total") > 0
    assert value(on_relay, "sabaq_relayed_classes") == 1
    assert value(on_relay, "sabaq_relayed_viewers") == 1
    assert value(on_relay, "sabaq_forwarded_packets_total") > 0  # the relay's own forwarding

    # The floor with camera to the relay's viewer: its picture reaches the origin's viewer.
    await host.send("grant_floor", participant_id=far_id, camera=True)
    await relayed.wait_for("floor_granted")
    await publish(relayed)
    await until(lambda: frames_from(watcher, far_id), "the relay viewer's video at the origin")
    await host.send("revoke_floor", participant_id=far_id)
    await watcher.wait_for("source_ended")
    # And to the origin's learner: their picture reaches the viewer on the relay.
    near_id = watcher.participant_id
    await host.send("grant_floor", participant_id=near_id, camera=True)
    await watcher.wait_for("floor_granted")
    await publish(watcher)
    await until(lambda: frames_from(relayed, near_id), "the origin's floor on the relay")
    await host.send("revoke_floor", participant_id=near_id)

    relay.kill()
    killed = time.monotonic()
    await until(lambda: len(far.joined_at) > 1, "the relay's viewer back in the class", timeout=30)
    moved_to = node_of(nodes, far.joined_at[-1])
    assert moved_to not in (relay, origin)  # the origin is still full: the third node relays
    assert far.peer is not None
    await far.peer.wait_frames(5, timeout=20)
    print(
        f"relay killed → its viewer's video again on a new relay: {time.monotonic() - killed:.2f} s"
    )
    assert len(near.joined_at) == 1 and len(teacher.joined_at) == 1  # the origin's are untouched

    # The register: the far learner's stay on the killed relay is closed, one more begun.
    joins = [
        le.event
        for le in c.ledger()
        if le.event.class_id == a.class_id
        and le.event.user_id == a.student_ids[1]
        and le.event.kind is EventKind.JOINED
    ]
    assert len(joins) == 2
