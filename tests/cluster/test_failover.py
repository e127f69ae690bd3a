"""A media node whose process is gone is seen at once (``control.node_watch``), not after
``SABAQ_NODE_DEAD_AFTER_SECONDS`` of silence; one that is only frozen, or stops on purpose, is
not declared dead. Real processes: a control node whose heartbeat judgement is set to two
minutes — longer than these tests may take — so that only the watch can act in them."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from attendance.recovery import SERVER_STOPPED
from tests.cluster_procs import Cluster, Member, Proc, cluster, until
from tests.conftest import Academy
from tests.redis_server import RedisServer

__all__ = ["cluster"]

pytestmark = pytest.mark.timeout(90)

SILENCE_JUDGED_AFTER = "120"


async def class_under_way(c: Cluster, a: Academy) -> tuple[Proc, Proc, Member, Member]:
    """Two media nodes and a control node that judges silence only after two minutes; the
    teacher publishing and a student receiving video. Returns the class's node, the other node,
    the teacher and the student."""
    m1, m2 = c.media("media-1"), c.media("media-2")
    for m in (m1, m2):
        m.start()
    for m in (m1, m2):
        await m.ready()
    control = c.control(SABAQ_NODE_DEAD_AFTER_SECONDS=SILENCE_JUDGED_AFTER)
    control.start()
    await control.ready()
    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher.start()
    at = await teacher.welcomed()
    student = c.member(control, a.student_ids[0], a.class_id)
    student.start()
    assert await student.welcomed() == at
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)
    node, other = (m1, m2) if at.startswith(m1.base) else (m2, m1)
    return node, other, teacher, student


def declared_dead(c: Cluster, a: Academy) -> set[int | None]:
    """Who had their stay closed because their node was declared dead."""
    return {
        le.event.user_id
        for le in c.ledger()
        if le.event.data.get("reason") == SERVER_STOPPED and le.event.class_id == a.class_id
    }


async def test_a_killed_node_is_declared_dead_at_once_and_its_class_goes_on_elsewhere(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    c, _server, a = cluster
    victim, survivor, teacher, student = await class_under_way(c, a)
    victim.kill()
    killed = time.monotonic()
    # Well inside the two minutes heartbeats would take: the watch saw the process gone.
    await until(
        lambda: declared_dead(c, a) == {a.teacher_id, a.student_ids[0]},
        "the killed node's stays closed",
        timeout=20,
    )
    await until(lambda: len(student.joined_at) > 1, "the student back in the class", timeout=20)
    await until(lambda: len(teacher.joined_at) > 1, "the teacher back in the class", timeout=20)
    assert student.joined_at[-1].startswith(survivor.base)
    assert teacher.joined_at[-1].startswith(survivor.base)
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)  # the teacher's video again
    print(
        f"kill → video again on {survivor.env['SABAQ_NODE_ID']}: {time.monotonic() - killed:.2f} s"
    )


async def test_a_frozen_node_keeps_its_class(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    """A stopped process (as a node under a load that starves it) keeps its sockets: nothing
    is concluded from its watch, and its class goes on where it was when it wakes."""
    c, _server, a = cluster
    node, _other, teacher, student = await class_under_way(c, a)
    assert node.proc is not None
    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(4)
        assert declared_dead(c, a) == set()
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)
    await asyncio.sleep(1)
    assert declared_dead(c, a) == set()
    assert len(teacher.joined_at) == 1 and len(student.joined_at) == 1  # nobody moved


async def test_a_node_stopped_on_purpose_is_not_declared_dead(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    """SIGTERM: the node tells its watch it stops, leaves the registry and disconnects its
    people, who go on elsewhere; their stays there end by its own word, not by a cut-off."""
    c, _server, a = cluster
    node, other, _teacher, student = await class_under_way(c, a)
    node.stop()
    await until(lambda: len(student.joined_at) > 1, "the student back in the class", timeout=20)
    assert student.joined_at[-1].startswith(other.base)
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)
    await asyncio.sleep(1)
    assert declared_dead(c, a) == set()
