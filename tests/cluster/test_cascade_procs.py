"""Cascading with real processes (issue 24): a control node and three media nodes of two places
each, a real redis-server. A lecture's teacher and first learner fill its origin; the next
learner's join token names another node, which relays the lecture; that relay is SIGKILLed and
its viewer is back with video on the third node, by the same path as the class page's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from access.events import EventKind
from tests.cluster.test_cluster import until
from tests.cluster_procs import Cluster, Proc, seeded_cluster
from tests.conftest import Academy
from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, RedisServer, Academy]]:
    async with seeded_cluster(tmp_path) as running:
        yield running


def node_of(nodes: list[Proc], media_url: str) -> Proc:
    return next(n for n in nodes if media_url.startswith(n.base))


async def test_a_lecture_over_an_origin_and_relays_survives_a_relays_death(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    c, _server, a = cluster
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
    far = c.member(control, a.student_ids[1], a.class_id)
    far.start()
    relay = node_of(nodes, await far.welcomed())
    assert relay is not origin  # the origin is full: the learner is served by a relay
    for viewer in (near, far):
        assert viewer.peer is not None
        await viewer.peer.wait_frames(10, timeout=20)  # the teacher's video on both nodes

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
