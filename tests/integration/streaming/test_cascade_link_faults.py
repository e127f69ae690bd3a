"""The cascade's link under faults: a link that goes during a relay viewer's request, a relay
that does not answer one in time, a message of the origin's the relay cannot read, requests the
origin withdraws at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from aiohttp import WSMessage, WSMsgType
from aiortc import AudioStreamTrack, RTCPeerConnection

import streaming.cascade as cascade_module
import streaming.cascade_origin as cascade_origin
from access.events import EventKind
from access.models import ClassRole
from streaming.aiortc_media import AiortcBackend, AiortcPublisher, AiortcViewer
from streaming.cascade import Cascade, RelayLink
from streaming.cascade_origin import INBOX, OriginPipes, PipedSocket
from streaming.cascade_relay import OUTBOX, PipedClient
from streaming.participant import CLOSE_MEDIA_FAILED, CLOSE_SERVER_STOPPING, CLOSE_TOO_SLOW
from tests.integration.streaming.cascading import (
    CLASS_ID,
    VIEWER,
    Node,
    nodes,
    relayed,
    until,
)
from tests.peers import Peer, connect, pc

__all__ = ["nodes"]

pytestmark = pytest.mark.timeout(60)

STAYS = {EventKind.JOINED, EventKind.LEFT, EventKind.DISCONNECTED, EventKind.RECONNECTED}


def _stays(node: Node, user_id: int) -> list[tuple[EventKind, str]]:
    got = node.events.got
    return [
        (e.kind, e.data.get("reason", "")) for e in got if e.user_id == user_id and e.kind in STAYS
    ]


async def _publish_diverted(
    teacher: Peer, viewer: Peer, link: RelayLink, instead: Callable[[], object]
) -> tuple[RTCPeerConnection, Callable[[dict[str, Any]], None]]:
    """The relay's viewer, given the floor, publishes its microphone; the relay does
    ``instead`` of carrying the origin's publish request out. Its own handling is returned."""
    await teacher.send("grant_floor", participant_id=viewer.participant_id, camera=False)
    await viewer.wait_for("floor_granted")
    handle = link.pipes.handle

    def diverted(doc: dict[str, Any]) -> None:
        if doc["type"] == "publish":
            instead()
        else:
            handle(doc)

    link.pipes.handle = diverted  # type: ignore[method-assign]
    conn = pc()
    conn.addTrack(AudioStreamTrack())
    await conn.setLocalDescription(await conn.createOffer())
    await viewer.send("publish", sdp=conn.localDescription.sdp, tracks=["microphone"])
    return conn, handle


async def test_a_link_lost_under_a_viewers_publish_is_a_drop(nodes: tuple[Node, Node]) -> None:
    """The link goes while the origin waits for the relay's answer to a relay viewer's offer:
    the viewer was not at fault. Recorded as dropped (not "left: protocol error"), they come
    back with their reconnect token through the relay, its link up again."""
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    token = str((await viewer.wait_for("welcome"))["reconnect_token"])
    link = cascade.links[CLASS_ID]
    cutting: list[asyncio.Task[bool]] = []  # the link goes as the offer crosses it
    conn, handle = await _publish_diverted(
        teacher, viewer, link, lambda: cutting.append(asyncio.create_task(link._ws.close()))
    )
    assert await viewer.wait_closed() == CLOSE_SERVER_STOPPING
    await until(lambda: len(_stays(origin, VIEWER)) == 2, 5)
    assert _stays(origin, VIEWER) == [
        (EventKind.JOINED, ""),
        (EventKind.DISCONNECTED, "connection lost"),
    ]
    assert not [m for m in viewer.messages if m["type"] == "error" and m["code"] == "bad_sdp"]

    link.pipes.handle = handle  # type: ignore[method-assign,assignment]
    back = await connect(relay.ws_url, None)
    await back.send("rejoin", token=token)
    await back.wait_for("welcome")
    assert _stays(origin, VIEWER)[-1][0] is EventKind.RECONNECTED
    await conn.close()
    await cascade.stop()
    for peer in (teacher, viewer, back):
        await peer.close()


async def test_a_relay_that_does_not_answer_in_time_is_not_a_bad_offer(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay does not carry out a relay viewer's publish within the origin's request
    timeout: the viewer is told the media server did not answer in time (not that its SDP was
    malformed), and is disconnected, not let go, so that its page reconnects."""
    monkeypatch.setattr(cascade_origin, "REQUEST_TIMEOUT", 0.3)
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    conn, _handle = await _publish_diverted(teacher, viewer, cascade.links[CLASS_ID], lambda: None)
    error = await viewer.wait_for("error")
    assert error["code"] == "media_timeout"
    assert await viewer.wait_closed() == CLOSE_MEDIA_FAILED
    await until(lambda: len(_stays(origin, VIEWER)) == 2, 5)
    assert _stays(origin, VIEWER)[-1] == (EventKind.DISCONNECTED, "media connection timed out")
    await conn.close()
    await cascade.stop()
    for peer in (teacher, viewer):
        await peer.close()


async def test_a_message_the_relay_cannot_read_is_ignored(nodes: tuple[Node, Node]) -> None:
    """One unknown or malformed message of the origin's: logged and ignored, the link and its
    viewers go on."""
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    link = relay.node.relays[CLASS_ID]
    assert isinstance(link, RelayLink)
    (ws,) = _origin_links(origin)
    await ws.send_str('{"type": "what"}')
    await ws.send_str('{"type": "sources", "sources": [{"source": 1}]}')
    await ws.send_str("not json")
    await ws.send_bytes(b"\x00")
    await ws.send_str('{"type": "to", "pids": 5}')
    await viewer.send("ping")
    await viewer.wait_for("pong")
    assert link._ws is not None and not link._ws.closed
    await cascade.stop()
    for peer in (teacher, viewer):
        await peer.close()


def _origin_links(origin: Node) -> list[Any]:
    """The origin's ends of its links (one per relay), as its feeds hold them."""
    room = origin.node.rooms[CLASS_ID]
    return [w.__self__._ws for w in room.watchers if hasattr(w, "__self__")]


async def test_requests_withdrawn_at_once_leave_no_peer_behind(nodes: tuple[Node, Node]) -> None:
    """A view withdrawn as soon as asked for, a publication withdrawn while its offer is
    taken, another under way as the link goes: each peer connection made for them is closed."""
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    link = cascade.links[CLASS_ID]
    await until(lambda: link.room.mirrored, 5)
    made: list[Any] = []
    backend = relay.node.media
    assert isinstance(backend, AiortcBackend)
    new_viewer, new_publisher = backend.new_viewer, backend.new_publisher

    def viewer(source: object, on_failed: Callable[[], None]) -> AiortcViewer:
        made.append(new_viewer(source, on_failed))
        return made[-1]  # type: ignore[no-any-return]

    def publisher(on_failed: Callable[[], None]) -> AiortcPublisher:
        made.append(new_publisher(on_failed))
        return made[-1]  # type: ignore[no-any-return]

    backend.new_viewer = viewer  # type: ignore[method-assign]
    backend.new_publisher = publisher  # type: ignore[method-assign]
    source = {"source": teacher.participant_id, "publication": "main"}
    link.pipes.handle({"type": "view", "rid": 901, "view": 901, **source})
    link.pipes.handle({"type": "unview", "view": 901})
    conn = pc()
    conn.addTrack(AudioStreamTrack())
    await conn.setLocalDescription(await conn.createOffer())
    offer = {"type": "publish", "sdp": conn.localDescription.sdp}
    link.pipes.handle({**offer, "rid": 902, "publisher": 902})
    link.pipes.handle({"type": "unpublish", "publisher": 902})
    link.pipes.handle({**offer, "rid": 903, "publisher": 903})
    await link._ws.close()  # the link goes with the last under way
    assert len(made) == 3
    await until(lambda: all(m.pc.connectionState == "closed" for m in made), 5)
    assert not link.pipes._views and not link.pipes._publishers
    assert [_sockets_open(m) for m in made] == [0, 0, 0]
    await conn.close()
    await cascade.stop()
    await teacher.close()


def _sockets_open(media: AiortcViewer | AiortcPublisher) -> int:
    """The UDP sockets aioice still holds for a peer connection (one per host candidate):
    none once it is closed, even if it was closed while it gathered its candidates."""
    return sum(
        len(t.receiver.transport.transport.iceGatherer._connection._protocols)
        for t in media.pc.getTransceivers()
    )


class StalledViewer:
    """A relayed viewer's socket whose page reads nothing (``piping.Socket``): what is written
    to it never goes out."""

    def __init__(self) -> None:
        self.closed = False
        self.code: int | None = None

    async def receive(self) -> WSMessage:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed, self.code = True, code
        return True


async def test_a_relayed_viewer_that_does_not_read_is_let_go_in_time() -> None:
    """As a direct connection: a message not taken within the send timeout, and the socket
    is closed "too slow" (not left to the heartbeat)."""
    ws = StalledViewer()
    client = PipedClient(ws, send_timeout=0.2)
    client.push('{"type": "roster"}')
    started = time.monotonic()
    await until(lambda: ws.closed, 2)
    assert ws.code == CLOSE_TOO_SLOW
    assert time.monotonic() - started < 1.0
    await client.stop()


async def test_a_relayed_viewers_backlog_is_cut_at_once() -> None:
    """A backlog of OUTBOX messages unread: the socket is closed "too slow" now, not once
    the backlog before the close was written."""
    ws = StalledViewer()
    client = PipedClient(ws, send_timeout=60)
    for n in range(OUTBOX + 1):
        client.push(f'{{"type": "chat", "n": {n}}}')
    await until(lambda: ws.closed, 1)
    assert ws.code == CLOSE_TOO_SLOW
    await client.stop()


async def test_a_relayed_viewers_unhandled_messages_are_bounded_on_the_origin() -> None:
    """What a relay viewer floods the origin with while its last message is handled is
    bounded (the excess dropped, as a flood's); its going away never is."""
    sock = PipedSocket("viewer", cast(OriginPipes, None))
    for n in range(INBOX * 4):
        sock.put(WSMessage(WSMsgType.TEXT, f'{{"n": {n}}}', None))
    sock.put(WSMessage(WSMsgType.CLOSED, None, None))
    got = [await sock.receive() for _ in range(INBOX + 1)]
    assert [m.type for m in got] == [WSMsgType.TEXT] * INBOX + [WSMsgType.CLOSED]
    assert got[INBOX - 1].data == f'{{"n": {INBOX - 1}}}'


async def test_a_link_to_an_origin_where_the_class_is_not_live_gives_up(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay asked for a class its origin does not hold (ended there, or placed anew
    elsewhere) does not knock at the origin for ever: after a few refusals in a row the link
    is let go, and joins on the relay ask placement again."""
    monkeypatch.setattr(cascade_module, "RELAY_RETRY", 0.05)
    monkeypatch.setattr(cascade_module, "NOT_LIVE_TRIES", 3)
    origin, relay = nodes
    link = Cascade(relay.node).relay(CLASS_ID, origin.url)  # nobody is in the class there
    assert relay.node.relays[CLASS_ID] is link
    await until(lambda: CLASS_ID not in relay.node.relays, timeout=10)
    assert not link.connected.is_set()
