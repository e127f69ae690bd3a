"""Seminar mode with real aiortc peers: learners publish without the floor, each viewer is sent
only the cameras it shows, the active speaker follows the sound's RTP audio level, and each
publisher is told what quality to send."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection

from streaming.aiortc_forward import Hub
from streaming.aiortc_media import AiortcPublisher
from streaming.node import MediaNode
from tests.conftest import Academy, SignIn
from tests.peers import MovingVideo, Peer, Tone, join, pc, publish
from web.core import keys
from web.core.settings import Settings

HOLD = 0.4  # the active speaker's hold, short in tests
SETTLE = 0.5  # for packets already on their way when a choice takes effect
WINDOW = 1.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, active_speaker_hold_seconds=HOLD)


@pytest.fixture
def seminar(served: TestServer, academy: Academy) -> int:
    """The academy's seminar (of the other group and its teacher), which the first students
    of the academy's group join too: taught by ``academy.other_teacher_id``."""
    tt = served.app[keys.TIMETABLE]
    (group,) = tt.get_class(academy.other_class_id).group_ids
    tt.add_members(group, academy.student_ids[:4])
    return academy.other_class_id


def _node(served: TestServer) -> MediaNode:
    return served.app[keys.MEDIA_NODE]


async def _video_packets(conn: RTCPeerConnection) -> int:
    """Video RTP packets this viewer's connection to one source has received."""
    stats = await conn.getStats()
    return sum(
        s.packetsReceived for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video"
    )


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def _told(peer: Peer) -> list[str]:
    """The quality levels the peer was asked for, in order."""
    return [str(m["level"]) for m in peer.messages if m["type"] == "quality"]


def _record_levels(hub: Hub, into: list[int]) -> None:
    """Note each audio level the hub hears (as well as hearing it)."""
    hear = hub.hear

    def noted(level: int) -> None:
        into.append(level)
        hear(level)

    hub.hear = noted  # type: ignore[method-assign]


async def _frames_from(peer: Peer, source: str, n: int, timeout: float = 10.0) -> None:
    await _until(lambda: peer.video_by_source.get(source, 0) >= n, timeout)


@pytest.mark.timeout(60)
async def test_a_seminar_lets_learners_publish_and_a_lecture_stops_them(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    teacher = await join(sign_in(academy.other_teacher_id), seminar)
    assert teacher.messages[0]["mode"] == "seminar"  # from the class's kind
    assert teacher.messages[0]["active_speaker"] is None
    student = await join(sign_in(academy.student_ids[0]), seminar)
    assert student.messages[0]["mode"] == "seminar"
    await publish(student)  # no floor asked for, none given
    await _frames_from(teacher, student.participant_id, 10)

    # A student may not switch the mode: refused, as any teacher's action is.
    other = await join(sign_in(academy.student_ids[1]), seminar)
    await other.send("set_mode", mode="lecture")
    assert (await other.wait_for("error"))["code"] == "not_allowed"

    # Into lecture mode: everyone is told, the student's publication stops.
    seen = len(student.messages)
    await teacher.send("set_mode", mode="lecture")
    assert (await student.wait_for("mode", after=seen))["mode"] == "lecture"
    ended = await teacher.wait_for("source_ended")
    assert ended["source"] == student.participant_id
    room = _node(served).rooms[seminar]
    assert room.participants[student.participant_id].publications == {}
    # An offer already on its way when the mode changed is not an offence: the student is
    # told the mode again and stays.
    seen = len(student.messages)
    await publish_refused(student)
    assert (await student.wait_for("mode", after=seen))["mode"] == "lecture"
    assert student.closed_code is None
    assert not room.participants[student.participant_id].publications

    # Back to seminar: the student publishes again.
    seen = len(student.messages)
    await teacher.send("set_mode", mode="seminar")
    assert (await student.wait_for("mode", after=seen))["mode"] == "seminar"
    before = teacher.video_by_source.get(student.participant_id, 0)
    await publish(student)
    await _frames_from(teacher, student.participant_id, before + 10)
    for peer in (other, student, teacher):
        await peer.close()


async def publish_refused(peer: Peer) -> None:
    """Offer a camera; no answer is expected."""
    conn = pc()
    conn.addTrack(MovingVideo())
    await conn.setLocalDescription(await conn.createOffer())
    await peer.send("publish", sdp=conn.localDescription.sdp, tracks=["camera"])
    await conn.close()


@pytest.mark.timeout(40)
async def test_a_lecture_keeps_the_floor_until_the_teacher_switches(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    assert teacher.messages[0]["mode"] == "lecture"
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await _frames_from(student, teacher.participant_id, 10)
    # The teacher leads a lecture in full: nothing to be told.
    assert _told(teacher) == []
    await teacher.send("set_mode", mode="seminar")
    assert (await student.wait_for("mode"))["mode"] == "seminar"
    await publish(student)
    await _frames_from(teacher, student.participant_id, 10)
    # In a seminar the teacher is a tile like everyone, until someone puts them on the stage.
    await _until(lambda: _told(teacher) == ["thumbnail"])
    await teacher.send("set_mode", mode="lecture")
    await _until(lambda: _told(teacher) == ["thumbnail", "full"])
    for peer in (student, teacher):
        await peer.close()


@pytest.mark.timeout(60)
async def test_a_viewer_is_sent_only_the_cameras_it_shows(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    a = await join(sign_in(academy.student_ids[0]), seminar)
    b = await join(sign_in(academy.student_ids[1]), seminar)
    viewer = await join(sign_in(academy.other_teacher_id), seminar)
    await publish(a)
    await publish(b)
    ida, idb = a.participant_id, b.participant_id
    # Before any view: everything.
    await _frames_from(viewer, ida, 10)
    await _frames_from(viewer, idb, 10)

    await viewer.send("view", tiles=[ida, "nobody-here"], stage=None)
    await asyncio.sleep(SETTLE)
    to_a, to_b = viewer.watching[ida], viewer.watching[idb]
    got_a, got_b = await _video_packets(to_a), await _video_packets(to_b)
    sound_b = viewer.audio_by_source.get(idb, 0)
    await asyncio.sleep(WINDOW)
    assert await _video_packets(to_b) == got_b  # not one packet of b's camera
    assert await _video_packets(to_a) > got_a + 10
    assert viewer.audio_by_source[idb] >= sound_b + 25  # b is still heard
    # The other viewers are not touched.
    assert b.video_by_source.get(ida, 0) > 0

    # b on the stage: its picture comes back, decodable (from a keyframe).
    frames_b = viewer.video_by_source.get(idb, 0)
    await viewer.send("view", tiles=[ida], stage=idb)
    await _frames_from(viewer, idb, frames_b + 10, timeout=3)

    # An empty view: no camera at all.
    await viewer.send("view", tiles=[], stage=None)
    await asyncio.sleep(SETTLE)
    got_a, got_b = await _video_packets(to_a), await _video_packets(to_b)
    await asyncio.sleep(WINDOW)
    assert (await _video_packets(to_a), await _video_packets(to_b)) == (got_a, got_b)
    for peer in (viewer, b, a):
        await peer.close()


@pytest.mark.timeout(60)
async def test_publishers_are_told_the_quality_their_camera_is_watched_in(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    teacher = await join(sign_in(academy.other_teacher_id), seminar)
    a = await join(sign_in(academy.student_ids[0]), seminar)
    b = await join(sign_in(academy.student_ids[1]), seminar)
    await publish(a)
    await publish(b)
    ida, idb = a.participant_id, b.participant_id
    # Nobody has them on a stage: thumbnails.
    assert (await a.wait_for("quality"))["level"] == "thumbnail"
    assert (await b.wait_for("quality"))["level"] == "thumbnail"

    await teacher.send("view", tiles=[ida, idb], stage=ida)
    await _until(lambda: _told(a) == ["thumbnail", "full"])
    # Putting oneself on one's own stage asks nothing of one's camera.
    await b.send("view", tiles=[ida], stage=idb)
    seen = len(b.messages)
    await b.send("ping")
    await b.wait_for("pong", after=seen)  # the view was taken
    assert _told(b) == ["thumbnail"]
    await teacher.send("view", tiles=[ida, idb], stage=idb)
    await _until(lambda: _told(b) == ["thumbnail", "full"])
    await _until(lambda: _told(a) == ["thumbnail", "full", "thumbnail"])
    await teacher.send("leave")  # the one who staged b left
    await _until(lambda: _told(b) == ["thumbnail", "full", "thumbnail"])
    assert _told(a) == ["thumbnail", "full", "thumbnail"]  # told only on a change
    for peer in (teacher, b, a):
        await peer.close()


@pytest.mark.timeout(60)
async def test_a_camera_shown_only_in_large_galleries_is_asked_for_small_pictures(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    teacher = await join(sign_in(academy.other_teacher_id), seminar)
    a = await join(sign_in(academy.student_ids[0]), seminar)
    b = await join(sign_in(academy.student_ids[1]), seminar)
    await publish(a)
    assert (await a.wait_for("quality"))["level"] == "thumbnail"  # views not said yet
    ida = a.participant_id
    others = [f"p{i}" for i in range(11)]  # a page of 12 tiles
    await teacher.send("view", tiles=[ida, *others], stage=None)
    await b.send("view", tiles=[ida, *others], stage=None)
    await _until(lambda: _told(a) == ["thumbnail", "small"])
    await b.send("view", tiles=[ida, *others[:3]], stage=None)  # b pages to 4 tiles
    await _until(lambda: _told(a) == ["thumbnail", "small", "thumbnail"])
    await b.send("view", tiles=others[:3], stage=None)  # b shows a no longer
    await _until(lambda: _told(a) == ["thumbnail", "small", "thumbnail", "small"])
    await teacher.send("view", tiles=others, stage=ida)
    await _until(lambda: _told(a)[-1] == "full")
    for peer in (teacher, b, a):
        await peer.close()


@pytest.mark.timeout(60)
async def test_the_active_speaker_follows_the_tone(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    listener = await join(sign_in(academy.other_teacher_id), seminar)
    a = await join(sign_in(academy.student_ids[0]), seminar)
    b = await join(sign_in(academy.student_ids[1]), seminar)
    voice_a, voice_b = Tone(loud=True), Tone(loud=False)
    await publish(a, video=False, sound=voice_a)
    await publish(b, video=False, sound=voice_b)
    ida, idb = a.participant_id, b.participant_id

    # The packets carry their level (aiortc's sender fills the header extension): the tone
    # loud, silence at the bottom of the scale; measured at the server, nothing decoded.
    room = _node(served).rooms[seminar]
    media_a = room.participants[ida].publications["main"].media
    media_b = room.participants[idb].publications["main"].media
    assert isinstance(media_a, AiortcPublisher) and isinstance(media_b, AiortcPublisher)
    levels: dict[str, list[int]] = {ida: [], idb: []}
    _record_levels(media_a.hubs[0], levels[ida])
    _record_levels(media_b.hubs[0], levels[idb])
    await _until(lambda: len(levels[ida]) >= 10 and len(levels[idb]) >= 10)
    assert max(levels[ida]) <= 20 and min(levels[idb]) == 127, levels

    spoke = await listener.wait_for("active_speaker")
    assert spoke["source"] == ida
    # A late joiner is told at once.
    late = await join(sign_in(academy.student_ids[2]), seminar)
    assert late.messages[0]["active_speaker"] == ida

    # a falls silent, b speaks: the stage moves to b once b held it.
    seen = len(listener.messages)
    voice_a.loud, voice_b.loud = False, True
    moved = await listener.wait_for("active_speaker", after=seen)
    assert moved["source"] == idb
    assert (await late.wait_for("active_speaker"))["source"] == idb

    # b leaves: nobody is the speaker.
    seen = len(listener.messages)
    await b.close()
    assert (await listener.wait_for("active_speaker", after=seen))["source"] is None
    for peer in (late, a, listener):
        await peer.close()


@pytest.mark.timeout(30)
async def test_a_malformed_view_disturbs_only_its_sender(
    served: TestServer, academy: Academy, sign_in: SignIn, seminar: int
) -> None:
    teacher = await join(sign_in(academy.other_teacher_id), seminar)
    a = await join(sign_in(academy.student_ids[0]), seminar)
    await publish(a)
    viewers = [await join(sign_in(academy.student_ids[i]), seminar) for i in (1, 2)]
    await viewers[0].send("view", tiles=[str(i) for i in range(51)], stage=None)
    await viewers[1].send("view", tiles=[a.participant_id], stage=7)
    for v in viewers:
        error = await v.wait_for("error")
        assert error["code"] == "bad_message", error
        assert await v.wait_closed() == 4400
    before = teacher.video_by_source.get(a.participant_id, 0)
    await _frames_from(teacher, a.participant_id, before + 10)
    assert teacher.closed_code is None and a.closed_code is None
    for peer in (*viewers, a, teacher):
        await peer.close()
