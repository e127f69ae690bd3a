"""A relay's viewers are in the whole classroom (``streaming.cascade_origin``/``_relay``): the
origin's room is the class, their sockets are piped to it, their peer connections hosted by
the relay on the origin's requests. Two media nodes in one process on loopback, real aiortc
peers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from access.events import EventKind
from access.models import ClassRole, RoomMode
from streaming.cascade import RelayLink
from streaming.cascade_relay import RelayPipes
from streaming.participant import CLOSE_REMOVED, CLOSE_SERVER_STOPPING
from tests.integration.streaming.cascading import (
    CLASS_ID,
    STUDENT,
    VIEWER,
    Node,
    nodes,
    relayed,
    until,
)
from tests.peers import Peer, Tone, connect, publish

__all__ = ["nodes"]

pytestmark = pytest.mark.timeout(60)

OTHER = 4  # a second viewer on the relay


def _chat(peer: Peer) -> list[dict[str, Any]]:
    return [m for m in peer.messages if m["type"] == "chat"]


def _results(peer: Peer) -> list[dict[str, Any]]:
    return [m for m in peer.messages if m["type"] == "question_results"]


def _quality(peer: Peer) -> str | None:
    """The quality the publisher was last asked for."""
    told = [str(m["level"]) for m in peer.messages if m["type"] == "quality"]
    return told[-1] if told else None


def _roster(peer: Peer) -> dict[str, Any]:
    return [m for m in peer.messages if m["type"] == "roster"][-1]


def _record_link(pipes: RelayPipes) -> list[dict[str, Any]]:
    """Note what the origin sends the relay over the link (as well as handling it)."""
    got: list[dict[str, Any]] = []
    handle = pipes.handle

    def noted(doc: dict[str, Any]) -> None:
        got.append(doc)
        handle(doc)

    pipes.handle = noted  # type: ignore[method-assign]
    return got


def _piped(relay: Node) -> list[str]:
    """The relay's names of the viewers' sockets it pipes now."""
    link = relay.node.relays[CLASS_ID]
    assert isinstance(link, RelayLink)
    return list(link.pipes._clients)


async def _video_packets(conn: RTCPeerConnection) -> int:
    stats = await conn.getStats()
    return sum(
        s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video"
    )


STAYS = {
    EventKind.JOINED,
    EventKind.LEFT,
    EventKind.DISCONNECTED,
    EventKind.RECONNECTED,
    EventKind.REMOVED,
}


def _kinds(node: Node, user_id: int) -> list[EventKind]:
    """The person's comings and goings as the node recorded them."""
    return [e.kind for e in node.events.got if e.user_id == user_id and e.kind in STAYS]


async def test_a_relay_viewer_is_in_the_teachers_class(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay)
    here = await origin.join(STUDENT, ClassRole.LEARNER)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    other = await relay.join(OTHER, ClassRole.LEARNER)
    vid, oid, hid = viewer.participant_id, other.participant_id, here.participant_id
    # The teacher sees the relay's viewers in the roster, counted with the origin's own.
    await until(lambda: {vid, oid, hid} <= {p["id"] for p in _roster(teacher)["participants"]})
    await viewer.wait_frames(5)  # the teacher's picture, through the relay
    # The other chooses low bandwidth: the teacher's sound, not one packet of the camera; back
    # to normal, the picture again.
    tid = teacher.participant_id
    await until(lambda: other.video_by_source.get(tid, 0) >= 5)
    await other.send("low_bandwidth", on=True)
    assert (await other.wait_for("low_bandwidth"))["on"] is True
    await asyncio.sleep(0.5)
    to_teacher = other.watching[tid]
    got, heard = await _video_packets(to_teacher), other.audio_by_source[tid]
    await asyncio.sleep(1.0)
    assert await _video_packets(to_teacher) == got
    assert other.audio_by_source[tid] >= heard + 25
    frames = other.video_by_source[tid]
    await other.send("low_bandwidth", on=False)
    await until(lambda: other.video_by_source[tid] >= frames + 10, 5)

    # Chat both ways; a private word to the teacher and the answer reach only those two.
    await viewer.send("chat", text="Hello all")
    await until(lambda: [m["text"] for m in _chat(here)] == ["Hello all"])
    await viewer.send("chat", text="May I leave early?", to="teacher")
    await until(lambda: len(_chat(teacher)) == 2)
    assert _chat(teacher)[1]["text"] == "May I leave early?"
    await teacher.send("chat", text="Yes, at 11.", to=vid)
    await until(lambda: [m["text"] for m in _chat(viewer)][-1:] == ["Yes, at 11."])
    # Said to everyone: over the link once for both of the relay's viewers.
    down = _record_link(cascade.links[CLASS_ID].pipes)
    await teacher.send("chat", text="Everyone: page 12")
    await until(lambda: len(_chat(other)) == 2 and len(_chat(here)) == 2)
    assert [m["text"] for m in _chat(other)] == ["Hello all", "Everyone: page 12"]
    assert [m["text"] for m in _chat(viewer)][-1] == "Everyone: page 12"
    (said,) = [d for d in down if d["type"] == "to" and "page 12" in d["message"]]
    assert sorted(said["pids"]) == sorted(_piped(relay))

    # A hand raised on the relay is in the origin's queue; "next" gives it the floor, and its
    # voice and picture reach a viewer on the origin and another on the relay.
    await viewer.send("raise_hand")
    await until(lambda: _roster(teacher)["hands"] == [vid])
    (me,) = [p for p in _roster(viewer)["participants"] if p["id"] == vid]
    assert me["hand_position"] == 1
    await teacher.send("next_hand", camera=True)
    assert (await viewer.wait_for("floor_granted"))["camera"] is True
    await publish(viewer)
    for peer in (here, other, teacher):
        await until(lambda p=peer: p.video_by_source.get(vid, 0) >= 5)  # type: ignore[misc]
        await until(lambda p=peer: p.audio_by_source.get(vid, 0) >= 10)  # type: ignore[misc]

    # The teacher mutes it: told, and no sound of its reaches anyone, on either node.
    await teacher.send("mute", participant_id=vid)
    assert (await viewer.wait_for("muted"))["by"] == "teacher"
    await asyncio.sleep(0.5)
    muted_at = [here.audio_by_source[vid], other.audio_by_source[vid]]
    await asyncio.sleep(1.0)
    assert [here.audio_by_source[vid], other.audio_by_source[vid]] == muted_at

    # Each person's join recorded once, by the origin; nothing by the relay.
    await viewer.close()
    await until(lambda: VIEWER not in origin.node.present_user_ids(CLASS_ID))
    assert _kinds(origin, VIEWER) == [EventKind.JOINED, EventKind.LEFT]
    assert _kinds(origin, OTHER) == [EventKind.JOINED]
    assert EventKind.CHAT_MESSAGE in [e.kind for e in origin.events.got if e.user_id == VIEWER]
    assert not relay.events.got
    await cascade.stop()
    for peer in (teacher, here, other):
        await peer.close()


async def test_a_relay_viewer_in_a_seminar_is_sent_only_what_it_shows(
    nodes: tuple[Node, Node],
) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, RoomMode.SEMINAR, video=False)
    a = await origin.join(STUDENT, ClassRole.LEARNER)
    b = await origin.join(OTHER, ClassRole.LEARNER)
    await publish(a)
    await publish(b)
    ida, idb = a.participant_id, b.participant_id
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    assert (await viewer.wait_for("welcome"))["mode"] == "seminar"
    await until(lambda: viewer.video_by_source.get(ida, 0) >= 5)
    await until(lambda: viewer.video_by_source.get(idb, 0) >= 5)

    # Only a's tile shown: not one packet of b's camera reaches the relay's viewer; b is heard.
    await viewer.send("view", tiles=[ida], stage=None)
    await asyncio.sleep(0.5)
    to_a, to_b = viewer.watching[ida], viewer.watching[idb]
    got_a, got_b = await _video_packets(to_a), await _video_packets(to_b)
    heard_b = viewer.audio_by_source.get(idb, 0)
    await asyncio.sleep(1.5)
    assert await _video_packets(to_b) == got_b
    assert await _video_packets(to_a) > got_a + 10
    assert viewer.audio_by_source[idb] >= heard_b + 25
    # b on the stage: its picture comes back, decodable; the teacher's view is the teacher's.
    frames_b = viewer.video_by_source[idb]
    await viewer.send("view", tiles=[ida], stage=idb)
    await until(lambda: viewer.video_by_source[idb] >= frames_b + 10, 5)
    # Thumbnails: b watched on a stage by the relay's viewer is asked for full quality, a (a
    # tile, and on nobody's stage) for thumbnails.
    await teacher.send("view", tiles=[ida, idb], stage=None)
    await until(lambda: _quality(a) == "thumbnail")
    await until(lambda: _quality(b) == "full")

    # The relay's viewer speaks (its camera and a loud microphone, published on the relay):
    # the origin's room hears it and makes it the active speaker, for everyone.
    await publish(viewer, sound=Tone(loud=True))
    vid = viewer.participant_id
    await until(lambda: a.video_by_source.get(vid, 0) >= 5)
    spoke = await teacher.wait_for("active_speaker")
    assert spoke["source"] == vid
    assert (await viewer.wait_for("active_speaker"))["source"] == vid
    await cascade.stop()
    for peer in (teacher, a, b, viewer):
        await peer.close()


async def test_a_relay_viewer_removed_stays_out(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay, video=False)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    # The recording is shown to the relay's viewer as to everyone.
    await teacher.send("start_recording")
    await until(lambda: _roster(viewer)["recording"] is True, 5)
    await teacher.send("stop_recording")
    await until(lambda: _roster(viewer)["recording"] is False, 5)

    # A quick question reaches the relay's viewer; its answer is in the teacher's tally.
    options = ["Astana", "Almaty"]
    await teacher.send(
        "ask", text="The capital?", format="single", options=options, anonymous=False, seconds=60
    )
    question = (await viewer.wait_for("question"))["question"]
    await viewer.send("answer_question", question_id=question["id"], choices=[0])
    assert (await viewer.wait_for("answer_taken"))["choices"] == [0]
    await until(lambda: [1, 0] in [m["tally"] for m in _results(teacher)], 5)

    await teacher.send("remove", participant_id=viewer.participant_id)
    assert (await viewer.wait_for("error"))["code"] == "removed"
    assert await viewer.wait_closed() == CLOSE_REMOVED
    await until(lambda: VIEWER not in origin.node.present_user_ids(CLASS_ID))
    # A new join token, through the relay: refused, as on the origin.
    token = relay.signer.mint_join(
        user_id=VIEWER,
        class_id=CLASS_ID,
        role=ClassRole.LEARNER,
        display_name="again",
        media_url=relay.url,
    )
    again = await connect(relay.ws_url, token)
    assert (await again.wait_for("error"))["code"] == "removed"
    assert await again.wait_closed() == CLOSE_REMOVED
    assert _kinds(origin, VIEWER) == [EventKind.JOINED, EventKind.REMOVED]
    await cascade.stop()
    for peer in (teacher, viewer, again):
        await peer.close()


async def test_relay_viewers_come_back_when_the_link_drops(nodes: tuple[Node, Node]) -> None:
    origin, relay = nodes
    teacher, cascade = await relayed(origin, relay)
    viewer = await relay.join(VIEWER, ClassRole.LEARNER)
    other = await relay.join(OTHER, ClassRole.LEARNER)
    await viewer.wait_frames(5)
    tokens = [str((await p.wait_for("welcome"))["reconnect_token"]) for p in (viewer, other)]
    link = cascade.links[CLASS_ID]
    await link._ws.close()  # the link between the nodes goes

    # Both are let go to reconnect; the origin takes them as dropped (the grace applies).
    assert await viewer.wait_closed() == CLOSE_SERVER_STOPPING
    assert await other.wait_closed() == CLOSE_SERVER_STOPPING
    await until(lambda: not origin.node.present_user_ids(CLASS_ID) - {1}, 5)
    assert _kinds(origin, VIEWER) == [EventKind.JOINED, EventKind.DISCONNECTED]

    # One comes back through the relay (its link up again), the other on the origin itself.
    back = await connect(relay.ws_url, None)
    await back.send("rejoin", token=tokens[0])
    await back.wait_for("welcome")
    direct = await connect(origin.ws_url, None)
    await direct.send("rejoin", token=tokens[1])
    await direct.wait_for("welcome")
    await back.wait_frames(5)
    await direct.wait_frames(5)
    assert _kinds(origin, VIEWER) == [
        EventKind.JOINED,
        EventKind.DISCONNECTED,
        EventKind.RECONNECTED,
    ]
    assert _kinds(origin, OTHER)[-1] == EventKind.RECONNECTED
    await cascade.stop()
    for peer in (teacher, viewer, other, back, direct):
        await peer.close()
