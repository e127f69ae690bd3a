"""Recording what the presenter shows: the teacher's camera and shared screen each in a file of
its own, both listed to those who may see the recording; and the class's public chat in a
sidecar file beside them, without a word of the private messages."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import av
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription

from access.events import EventKind
from tests.conftest import Academy, SignIn
from tests.peers import MovingVideo, Peer, join, publish
from tests.peers import pc as new_pc
from web.core import keys
from web.core.settings import Settings


async def share_screen(teacher: Peer) -> RTCPeerConnection:
    """The teacher's screen: a publication of its own, on its own peer connection."""
    screen = new_pc()
    screen.addTrack(MovingVideo())
    await screen.setLocalDescription(await screen.createOffer())
    seen = len(teacher.messages)
    await teacher.send("publish", sdp=screen.localDescription.sdp, tracks=["screen"])
    answer = await teacher.wait_for("answer", after=seen)
    await screen.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return screen


async def stopped_files(served: TestServer, class_id: int, n: int) -> list[list[str]]:
    """The files of the class's first ``n`` recording stops, once they are in the record."""
    async with asyncio.timeout(10):
        while True:
            await served.app[keys.MEDIA_NODE].outbox.flush()
            events = served.app[keys.LEDGER].events(class_id)
            stops = [e.event for e in events if e.event.kind is EventKind.RECORDING_STOPPED]
            if len(stops) >= n:
                return [list(s.data["files"]) for s in stops]
            await asyncio.sleep(0.05)


def decoded(path: Path) -> tuple[int, int]:
    """(video frames, audio frames) decoded from a recording."""
    with av.open(str(path)) as container:
        video = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        audio = sum(1 for _ in container.decode(audio=0)) if container.streams.audio else 0
    return video, audio


async def test_camera_and_screen_are_both_recorded_and_listed(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.wait_frames(3)
    seen = len(teacher.messages)
    await teacher.send("start_recording")
    await teacher.wait_for("roster", after=seen)
    screen = await share_screen(teacher)  # while the camera is on and it records
    async with asyncio.timeout(10):
        while student.frames_by_label.get("screen", 0) < 10:
            await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # two seconds of camera and screen together
    await teacher.send("stop_recording")
    stops = await stopped_files(served, academy.class_id, 2)
    last = stops[-1]
    folder = settings.recordings_dir / str(academy.class_id)
    camera = [n for n in last if n.endswith("-camera.webm")]
    shown = [n for n in last if n.endswith("-screen.webm")]
    assert len(camera) == 1 and len(shown) == 1, stops
    every = [n for files in stops for n in files]
    assert len(every) == len(set(every)), f"a file was written over: {stops}"
    for name in (camera[0], shown[0]):
        video, audio = decoded(folder / name)
        assert video >= 20, (name, video)  # about 2 s at 30 fps, from the first key frame
        assert audio >= 50, (name, audio)  # the class's sound is in each file (20 ms frames)
    # Both are listed to the group, each playable.
    page = await (await sign_in(academy.student_ids[1]).get(f"/classes/{academy.class_id}")).text()
    for name in every:
        assert f"/classes/{academy.class_id}/recordings/{name}" in page
    await screen.close()
    await student.close()
    await teacher.close()


async def test_the_public_chat_is_kept_beside_the_recording_and_no_private_word(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.send("chat", text="said before the recording")
    await teacher.wait_for("chat")
    seen = len(teacher.messages)
    await teacher.send("start_recording")
    async with asyncio.timeout(5):
        while not any(
            m["type"] == "roster" and m.get("recording") for m in teacher.messages[seen:]
        ):
            await asyncio.sleep(0.02)
    said = [
        (student, {"text": "Is --> this\n\nin the notes?"}),
        (student, {"text": "a private question", "to": "teacher"}),
        (teacher, {"text": "Yes, it is."}),
    ]
    for who, fields in said:
        seen = len(teacher.messages)
        await who.send("chat", **fields)
        await teacher.wait_for("chat", after=seen)
    await asyncio.sleep(1.0)
    await teacher.send("stop_recording")
    (files,) = await stopped_files(served, academy.class_id, 1)
    (chat,) = [n for n in files if n.endswith("-chat.jsonl")]
    assert any(n.endswith("-camera.webm") for n in files)

    # Listed and downloadable for the group; not for others.
    learner = sign_in(academy.student_ids[1])
    listed = await (await learner.get(f"/classes/{academy.class_id}/recordings")).json()
    by_kind = {r["kind"]: r["url"] for r in listed["recordings"]}
    assert set(by_kind) == {"camera", "chat"}
    url = by_kind["chat"]
    assert url == f"/classes/{academy.class_id}/recordings/{chat}"
    page = await (await learner.get(f"/classes/{academy.class_id}")).text()
    assert url in page
    got = await learner.get(url)
    assert got.status == 200 and got.headers["Content-Type"].startswith("application/jsonl")
    assert "attachment" in got.headers["Content-Disposition"]
    lines: list[dict[str, Any]] = [json.loads(x) for x in (await got.text()).splitlines()]
    accounts = served.app[keys.ACCOUNTS]
    assert [(x["name"], x["text"]) for x in lines] == [
        (accounts.get(academy.student_ids[0]).full_name, "Is --> this\n\nin the notes?"),
        (accounts.get(academy.teacher_id).full_name, "Yes, it is."),
    ]
    for x in lines:  # UTC, ISO 8601
        assert x["at"].endswith("Z") and datetime.fromisoformat(x["at"]).utcoffset() is not None
    text = (settings.recordings_dir / str(academy.class_id) / chat).read_text()
    assert "private" not in text and "before the recording" not in text
    assert (await sign_in(academy.outsider_id).get(url)).status == 403
    listing = await sign_in(academy.outsider_id).get(f"/classes/{academy.class_id}/recordings")
    assert listing.status == 403
    await student.close()
    await teacher.close()
