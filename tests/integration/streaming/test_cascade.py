"""Cascading in one process: two media nodes on loopback, the class's origin (its teacher
publishes there) and a relay (its viewers are served there), linked by ``streaming.cascade``."""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import ClientSession

from access.events import EventKind
from access.models import ClassRole
from access.tokens import TokenSigner
from streaming.participant import CLOSE_CLASS_ENDED
from tests.integration.streaming.cascading import (
    CLASS_ID,
    STUDENT,
    TEACHER,
    VIEWER,
    Node,
    nodes,
    relayed,
    until,
)
from tests.peers import publish

__all__ = ["nodes"]


async def test_a_relay_serves_the_origins_class(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay)
    teacher_id = (await teacher.wait_for("welcome"))["participant_id"]

    # A viewer on the relay gets the teacher's picture and sound, decoded.
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    await viewer.wait_frames(10)
    await until(lambda: viewer.audio_by_source.get(teacher_id, 0) >= 20)
    offer = await viewer.wait_for("offer")
    assert offer["source"] == teacher_id
    assert offer["source_role"] == "host"

    # A keyframe request of the relay's viewer reaches the publisher on the origin.
    room = origin.node.rooms[CLASS_ID]
    (host,) = [p for p in room.participants.values() if p.id == teacher_id]
    pub = host.publications["main"].media
    video = next(h for h in pub.hubs if h.kind == "video")  # type: ignore[attr-defined]
    asked = video.tally.keyframe_requests
    await asyncio.sleep(0.4)  # past the interval that merges requests
    await viewer.ask_keyframe(teacher_id)
    await until(lambda: video.tally.keyframe_requests > asked, 5)
    relay_room = relay.node.rooms[CLASS_ID]

    # The floor given to a student on the origin: a second video source on the relay.
    student = await origin.join(STUDENT, ClassRole.LEARNER)
    student_id = (await student.wait_for("welcome"))["participant_id"]
    await teacher.send("grant_floor", participant_id=student_id, camera=True)
    await student.wait_for("floor_granted")
    await publish(student)
    await until(lambda: viewer.video_by_source.get(student_id, 0) >= 5)
    await teacher.send("revoke_floor", participant_id=student_id)
    ended = await viewer.wait_for("source_ended")
    assert ended["source"] == student_id

    # The relay's viewer is a participant of the origin's room: its join and leave are
    # recorded once, by the origin; the relay's room has no members, no attendance.
    await viewer.close()
    await until(lambda: VIEWER not in origin.node.present_user_ids(CLASS_ID))
    mine = [(e.kind, e.node) for e in origin.events.got if e.user_id == VIEWER]
    assert mine == [(EventKind.JOINED, "origin"), (EventKind.LEFT, "origin")]
    assert not relay_room.participants
    assert not relay.events.got

    await cascade.stop()
    for peer in (teacher, student):
        await peer.close()


async def test_only_a_node_with_the_secret_relays_a_class(nodes: tuple[Node, Node]) -> None:
    origin, _relay = nodes
    teacher = await origin.join(TEACHER, ClassRole.HOST)
    url = origin.url + f"classes/{CLASS_ID}/relay"
    forged = TokenSigner(secrets.token_bytes(32)).mint_relay(class_id=CLASS_ID, node_id="x")
    other_class = origin.signer.mint_relay(class_id=CLASS_ID + 1, node_id="x")
    join = origin.signer.mint_join(
        user_id=VIEWER,
        class_id=CLASS_ID,
        role=ClassRole.LEARNER,
        display_name="v",
        media_url=origin.url,
    )
    async with ClientSession() as session:
        for token in ("", forged, other_class, join):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 403
        # A class that is not live on the node is not relayed from it.
        token = origin.signer.mint_relay(class_id=CLASS_ID + 1, node_id="x")
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(origin.url + f"classes/{CLASS_ID + 1}/relay", headers=headers) as r:
            assert r.status == 404
    await teacher.close()


async def test_the_class_ends_on_the_relay_as_on_the_origin(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    await viewer.wait_frames(3)

    await teacher.send("end_class")
    told = await viewer.wait_for("ended")
    assert told["reason"] == "ended_by_teacher"
    assert await viewer.wait_closed() == CLOSE_CLASS_ENDED
    await until(lambda: relay.node.rooms[CLASS_ID].ended, 5)
    # The viewer's departure and the class's end are the origin's to record, once each.
    mine = [(e.kind, e.data, e.node) for e in origin.events.got if e.user_id == VIEWER]
    assert mine == [
        (EventKind.JOINED, {}, "origin"),
        (EventKind.LEFT, {"reason": "class_ended"}, "origin"),
    ]
    assert [e.kind for e in origin.events.got].count(EventKind.CLASS_ENDED) == 1
    assert not relay.events.got
    await cascade.stop()
    for peer in (teacher, viewer):
        await peer.close()
