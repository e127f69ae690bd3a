"""Cascading in one process: two media nodes on loopback, the class's origin (its teacher
publishes there) and a relay (its viewers are served there), linked by ``streaming.cascade``."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from access.events import EventKind
from access.models import ClassRole
from access.tokens import TokenSigner
from streaming.aiortc_media import AiortcBackend, advertise_host_addresses
from streaming.cascade import Cascade
from streaming.events import MediaEvent
from streaming.node import MediaNode, MediaSettings
from streaming.participant import CLOSE_CLASS_ENDED
from streaming.signaling import NODE_KEY, create_signaling_app
from tests.peers import Peer, connect, publish

CLASS_ID = 7
TEACHER, STUDENT, VIEWER = 1, 2, 3


@dataclass
class Events:
    """An event sink that keeps what it is given."""

    got: list[MediaEvent] = field(default_factory=list)

    async def deliver(self, event: MediaEvent) -> None:
        self.got.append(event)

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        self.got.extend(events)

    async def heartbeat(self, node: str, at: float) -> None:
        return None

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        return None


@dataclass
class Node:
    node: MediaNode
    server: TestServer
    events: Events
    signer: TokenSigner

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    async def join(self, user_id: int, role: ClassRole) -> Peer:
        token = self.signer.mint_join(
            user_id=user_id,
            class_id=CLASS_ID,
            role=role,
            display_name=f"user {user_id}",
            media_url=self.url,
        )
        ws = self.url.replace("http://", "ws://") + f"classes/{CLASS_ID}/ws"
        peer = await connect(ws, token)
        await peer.wait_for("welcome")
        return peer


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    advertise_host_addresses(["127.0.0.1"])
    secret = secrets.token_bytes(32)
    made: list[Node] = []
    for name in ("origin", "relay"):
        signer, events = TokenSigner(secret), Events()
        node = MediaNode(MediaSettings(node_id=name), signer, events, AiortcBackend())
        await node.start()
        app = create_signaling_app()
        app[NODE_KEY] = node
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        made.append(Node(node, server, events, signer))
    yield made[0], made[1]
    for n in made:
        await n.node.close()
        await n.server.close()
    advertise_host_addresses([])


async def _until(check: object, timeout: float = 15.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def _relayed(origin: Node, relay: Node) -> tuple[Peer, Cascade]:
    """The teacher publishing on the origin; the relay linked to it for the class."""
    teacher = await origin.join(TEACHER, ClassRole.HOST)
    await publish(teacher)
    cascade = Cascade(relay.node)
    link = cascade.relay(CLASS_ID, origin.url)
    async with asyncio.timeout(10):
        await link.connected.wait()
    return teacher, cascade


async def test_a_relay_serves_the_origins_class(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await _relayed(origin, relay)
    teacher_id = (await teacher.wait_for("welcome"))["participant_id"]

    # A viewer on the relay gets the teacher's picture and sound, decoded.
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    await viewer.wait_frames(10)
    await _until(lambda: viewer.audio_by_source.get(teacher_id, 0) >= 20)
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
    await _ask_keyframe(viewer, teacher_id)
    await _until(lambda: video.tally.keyframe_requests > asked, 5)
    relay_room = relay.node.rooms[CLASS_ID]

    # The floor given to a student on the origin: a second video source on the relay.
    student = await origin.join(STUDENT, ClassRole.LEARNER)
    student_id = (await student.wait_for("welcome"))["participant_id"]
    await teacher.send("grant_floor", participant_id=student_id, camera=True)
    await student.wait_for("floor_granted")
    await publish(student)
    await _until(lambda: viewer.video_by_source.get(student_id, 0) >= 5)
    await teacher.send("revoke_floor", participant_id=student_id)
    ended = await viewer.wait_for("source_ended")
    assert ended["source"] == student_id

    # The relay's viewer's join and leave are the relay's events, as any node's.
    await viewer.close()
    await _until(lambda: not relay_room.participants)
    mine = [e for e in relay.events.got if e.user_id == VIEWER]
    assert [e.kind for e in mine][:1] == [EventKind.JOINED]
    assert mine[-1].kind in (EventKind.LEFT, EventKind.DISCONNECTED)
    assert {e.node for e in mine} == {"relay"}
    assert not [e for e in origin.events.got if e.user_id == VIEWER]
    # The teacher is not a member of the relay's room: no attendance of theirs there.
    assert not [e for e in relay.events.got if e.user_id == TEACHER]

    await cascade.stop()
    for peer in (teacher, student):
        await peer.close()


async def _ask_keyframe(viewer: Peer, source: str) -> None:
    """The viewer's browser asks for a keyframe (an RTCP PLI, as aiortc's receiver sends it)."""
    conn = viewer.watching[source]
    (receiver,) = [t.receiver for t in conn.getTransceivers() if t.kind == "video"]
    (ssrc,) = [s.source for s in receiver.getSynchronizationSources()]
    await receiver._send_rtcp_pli(ssrc)


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
    teacher, cascade = await _relayed(origin, relay)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    await viewer.wait_frames(3)

    await teacher.send("end_class")
    told = await viewer.wait_for("ended")
    assert told["reason"] == "ended_by_teacher"
    assert await viewer.wait_closed() == CLOSE_CLASS_ENDED
    assert relay.node.rooms[CLASS_ID].ended
    # The viewer's departure is the relay's to record; the class's end, the origin's alone.
    mine = [(e.kind, e.data, e.node) for e in relay.events.got if e.user_id == VIEWER]
    assert mine == [
        (EventKind.JOINED, {}, "relay"),
        (EventKind.LEFT, {"reason": "class_ended"}, "relay"),
    ]
    assert [e.kind for e in origin.events.got].count(EventKind.CLASS_ENDED) == 1
    assert EventKind.CLASS_ENDED not in [e.kind for e in relay.events.got]
    await cascade.stop()
    for peer in (teacher, viewer):
        await peer.close()
