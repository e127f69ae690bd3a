"""Microphone and camera off, by the person or (the microphone) by the teacher: the server holds
the media back from every viewer even while the client goes on sending; the roster shows it; a
rejoin within the grace keeps it; only the teacher mutes another, and nobody unmutes another."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from streaming.protocol import ProtocolError, parse_client_message
from tests.conftest import Academy, SignIn
from tests.peers import Peer, drop, join, publish, rejoin

SETTLE = 0.5  # for frames already on their way when a change takes effect
WINDOW = 1.5


def test_media_state_mute_and_ask_unmute_are_validated() -> None:
    m = parse_client_message('{"v": 1, "type": "media_state", "microphone": false, "camera": true}')
    assert (m.type, m.microphone, m.camera) == ("media_state", False, True)
    for bad in ('"microphone": "off", "camera": true', '"microphone": false', '"camera": 0'):
        with pytest.raises(ProtocolError) as caught:
            parse_client_message(f'{{"v": 1, "type": "media_state", {bad}}}')
        assert caught.value.code == "bad_message"
    for kind in ("mute", "ask_unmute"):
        assert (
            parse_client_message(
                f'{{"v": 1, "type": "{kind}", "participant_id": "p1"}}'
            ).participant_id
            == "p1"
        )
        with pytest.raises(ProtocolError):
            parse_client_message(f'{{"v": 1, "type": "{kind}", "participant_id": 7}}')


async def _window(*peers: Peer) -> list[dict[str, int]]:
    """Frames each peer got per label over a window, after frames in flight have landed."""
    await asyncio.sleep(SETTLE)
    before = [dict(p.frames_by_label) for p in peers]
    await asyncio.sleep(WINDOW)
    return [
        {label: n - b.get(label, 0) for label, n in p.frames_by_label.items()}
        for p, b in zip(peers, before, strict=True)
    ]


async def _until(peer: Peer, label: str, n: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while peer.frames_by_label.get(label, 0) < n:
            await asyncio.sleep(0.02)


async def _roster_entry(peer: Peer, pid: str, **expected: Any) -> dict[str, Any]:
    """The newest roster's entry for ``pid`` once it has the expected fields (polled)."""
    async with asyncio.timeout(5):
        while True:
            rosters = [m for m in peer.messages if m["type"] == "roster"]
            entry: dict[str, Any] | None = next(
                (e for e in rosters[-1]["participants"] if e["id"] == pid), None
            )
            if entry and all(entry[k] == v for k, v in expected.items()):
                return entry
            await asyncio.sleep(0.02)


@pytest.mark.timeout(60)
async def test_a_muted_microphone_and_an_off_camera_are_held_back_while_the_client_sends(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    tid = (await teacher.wait_for("welcome"))["participant_id"]
    await publish(teacher)  # aiortc keeps sending sound and picture whatever it says
    a = await join(sign_in(academy.student_ids[0]), academy.class_id)
    b = await join(sign_in(academy.student_ids[1]), academy.class_id)
    for peer in (a, b):
        await _until(peer, "camera", 5)
        await _until(peer, "microphone", 25)
    await _roster_entry(a, tid, microphone=True, camera=True)

    await teacher.send("media_state", microphone=False, camera=True)
    await _roster_entry(a, tid, microphone=False, camera=True)
    got_a, got_b = await _window(a, b)
    for got in (got_a, got_b):
        assert got.get("microphone", 0) == 0 and got["camera"] >= 10, got

    await teacher.send("media_state", microphone=False, camera=False)
    await _roster_entry(b, tid, microphone=False, camera=False)
    got_a, got_b = await _window(a, b)
    for got in (got_a, got_b):
        assert got.get("microphone", 0) == 0 and got.get("camera", 0) == 0, got

    # Kept for a later publication: the teacher publishes again, still off.
    await publish(teacher)
    (got_a,) = await _window(a)
    assert got_a.get("microphone", 0) == 0 and got_a.get("camera", 0) == 0, got_a

    # On again: sound and picture come back at once.
    await teacher.send("media_state", microphone=True, camera=True)
    for peer in (a, b):
        await _until(peer, "microphone", peer.frames_by_label.get("microphone", 0) + 25, 5)
        await _until(peer, "camera", peer.frames_by_label.get("camera", 0) + 10, 5)
    await _roster_entry(a, tid, microphone=True, camera=True)
    for peer in (a, b, teacher):
        await peer.close()


@pytest.mark.timeout(60)
async def test_the_teacher_mutes_a_speaker_who_alone_can_unmute_even_after_a_rejoin(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    tid = (await teacher.wait_for("welcome"))["participant_id"]
    await publish(teacher)
    client = sign_in(academy.student_ids[0])
    speaker = await join(client, academy.class_id)
    welcome = await speaker.wait_for("welcome")
    sid = welcome["participant_id"]
    other = await join(sign_in(academy.student_ids[1]), academy.class_id)
    await teacher.send("grant_floor", participant_id=sid, camera=False)
    await speaker.wait_for("floor_granted")
    await publish(speaker, video=False)
    async with asyncio.timeout(10):
        while teacher.audio_by_source.get(sid, 0) < 25:
            await asyncio.sleep(0.02)

    # The teacher mutes the speaker: told, shown, and no sound of theirs reaches anyone.
    await teacher.send("mute", participant_id=sid)
    assert (await speaker.wait_for("muted"))["by"] == "teacher"
    await _roster_entry(other, sid, microphone=False)
    await asyncio.sleep(SETTLE)
    heard = teacher.audio_by_source.get(sid, 0), other.audio_by_source.get(sid, 0)
    await asyncio.sleep(WINDOW)
    assert (teacher.audio_by_source.get(sid, 0), other.audio_by_source.get(sid, 0)) == heard

    # Asked to unmute: the speaker is asked; nothing is turned on by it.
    await teacher.send("ask_unmute", participant_id=sid)
    await speaker.wait_for("unmute_requested")
    await asyncio.sleep(SETTLE)
    assert teacher.audio_by_source.get(sid, 0) == heard[0]

    # A student may not mute anyone (nor, so, unmute): refused, and the teacher still heard.
    await other.send("mute", participant_id=tid)
    assert (await other.wait_for("error"))["code"] == "not_allowed"
    await _roster_entry(speaker, tid, microphone=True)

    # The speaker's connection drops; back within the grace, still muted.
    drop(speaker)
    back = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    assert (await back.wait_for("welcome"))["microphone"] is False
    await teacher.send("grant_floor", participant_id=sid, camera=False)
    await back.wait_for("floor_granted")
    await publish(back, video=False)
    await asyncio.sleep(SETTLE + WINDOW)
    assert teacher.audio_by_source.get(sid, 0) == heard[0]

    # Only they unmute: their own media_state.
    await back.send("media_state", microphone=True, camera=True)
    async with asyncio.timeout(5):
        while teacher.audio_by_source.get(sid, 0) < heard[0] + 25:
            await asyncio.sleep(0.02)
    for peer in (back, speaker, other, teacher):
        await peer.close()
