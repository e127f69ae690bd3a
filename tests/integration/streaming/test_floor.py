"""Floor control: a raised hand, the teacher grants the floor, that student's microphone (and
camera, if allowed) reaches everyone, the teacher takes it back. Nobody publishes without it."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp.test_utils import TestServer
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import Academy, SignIn
from tests.peers import Peer, join, publish
from tests.peers import pc as new_pc


def _me(roster: dict[str, object], pid: str) -> dict[str, object]:
    participants = roster["participants"]
    assert isinstance(participants, list)
    (me,) = [p for p in participants if p["id"] == pid]
    assert isinstance(me, dict)
    return me


async def _roster_where(peer: Peer, pid: str, key: str, value: object) -> None:
    async with asyncio.timeout(5):
        while True:
            rosters = [m for m in peer.messages if m["type"] == "roster"]
            if rosters and _me(rosters[-1], pid).get(key) == value:
                return
            await asyncio.sleep(0.02)


async def test_raise_hand_grant_speak_and_take_back(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    speaker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    listener = await join(sign_in(academy.student_ids[1]), academy.class_id)
    speaker_id = (await speaker.wait_for("welcome"))["participant_id"]
    await listener.wait_frames(3)

    # Without the floor, a student's offer is refused (and the offender disconnected).
    intruder = await join(sign_in(academy.student_ids[2]), academy.class_id)
    await publish_refused(intruder)

    await speaker.send("raise_hand")
    await _roster_where(teacher, speaker_id, "hand_raised", True)
    await teacher.send("grant_floor", participant_id=speaker_id, camera=False)
    granted = await speaker.wait_for("floor_granted")
    assert granted["camera"] is False
    await _roster_where(teacher, speaker_id, "floor", "audio")
    await _roster_where(teacher, speaker_id, "hand_raised", False)

    # Sound only: an offer with a camera is refused, one without is taken.
    await publish_refused(speaker, code="camera_not_allowed", video=True)
    await publish(speaker, video=False)
    for peer in (listener, teacher):
        async with asyncio.timeout(10):
            while peer.audio_by_source.get(speaker_id, 0) < 10:
                await asyncio.sleep(0.05)
    offers = [m for m in listener.messages if m["type"] == "offer"]
    assert {m["source_role"] for m in offers} == {"host", "learner"}

    await teacher.send("revoke_floor", participant_id=speaker_id)
    await speaker.wait_for("floor_revoked")
    ended = await listener.wait_for("source_ended")
    assert ended["source"] == speaker_id
    await _roster_where(teacher, speaker_id, "floor", None)
    # The teacher's picture never stopped for the listener.
    before = listener.frames
    await listener.wait_frames(before + 10)
    # Only the teacher grants the floor.
    await listener.send("grant_floor", participant_id=speaker_id)
    assert (await listener.wait_for("error"))["code"] == "not_allowed"
    for peer in (teacher, speaker, listener, intruder):
        await peer.close()


async def publish_refused(peer: Peer, code: str = "not_allowed", video: bool = True) -> None:
    seen = len(peer.messages)
    task = asyncio.create_task(publish(peer, video=video))
    err = await peer.wait_for("error", after=seen)
    assert err["code"] == code
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if peer.pc is not None:  # the refused offer's peer connection
        await peer.pc.close()
        peer.pc = None


async def test_the_floor_is_one_microphone_not_a_flood_of_tracks(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    speaker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    speaker_id = (await speaker.wait_for("welcome"))["participant_id"]
    await teacher.send("grant_floor", participant_id=speaker_id)
    await speaker.wait_for("floor_granted")
    conn = new_pc()
    for _ in range(5):
        conn.addTrack(AudioStreamTrack())
    await conn.setLocalDescription(await conn.createOffer())
    await speaker.send("publish", sdp=conn.localDescription.sdp)
    assert (await speaker.wait_for("error"))["code"] == "bad_sdp"
    await conn.close()
    await speaker.close()
    await teacher.close()


async def test_a_publish_that_arrives_after_the_floor_was_taken_back_is_not_an_offence(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    speaker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    speaker_id = (await speaker.wait_for("welcome"))["participant_id"]
    await teacher.send("grant_floor", participant_id=speaker_id)
    await speaker.wait_for("floor_granted")
    await teacher.send("revoke_floor", participant_id=speaker_id)
    await speaker.wait_for("floor_revoked")
    seen = len(speaker.messages)
    conn = new_pc()
    conn.addTrack(AudioStreamTrack())
    await conn.setLocalDescription(await conn.createOffer())
    await speaker.send("publish", sdp=conn.localDescription.sdp)  # was on its way already
    await speaker.wait_for("floor_revoked", after=seen)
    await speaker.send("ping")
    await speaker.wait_for("pong")
    assert speaker.closed_code is None
    await conn.close()
    await speaker.close()
    await teacher.close()
