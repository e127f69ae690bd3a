"""Screen share: a second video track of the teacher, labelled so viewers tell it apart."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer
from aiortc import RTCSessionDescription

from tests.conftest import Academy, SignIn
from tests.peers import MovingVideo, join, publish
from tests.peers import pc as new_pc


async def test_teacher_shares_a_screen_beside_the_camera(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    teacher_id = (await teacher.wait_for("welcome"))["participant_id"]
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.wait_frames(5)
    # The screen is a publication of its own, on its own peer connection.
    screen = new_pc()
    screen.addTrack(MovingVideo())
    await screen.setLocalDescription(await screen.createOffer())
    seen = len(teacher.messages)
    await teacher.send("publish", sdp=screen.localDescription.sdp, tracks=["screen"])
    answer = await teacher.wait_for("answer", after=seen)
    assert answer["publication"] == "screen"
    await screen.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    async with asyncio.timeout(10):
        while student.frames_by_label.get("screen", 0) < 10:
            await asyncio.sleep(0.05)
    offers = {m["source"]: m["tracks"] for m in student.messages if m["type"] == "offer"}
    assert offers == {teacher_id: ["camera", "microphone"], f"{teacher_id}/screen": ["screen"]}
    roster = [m for m in student.messages if m["type"] == "roster"][-1]
    (host,) = [p for p in roster["participants"] if p["role"] == "host"]
    assert host["sharing_screen"] is True
    # The teacher stops sharing: the screen goes, the camera stays.
    await teacher.send("unpublish", publication="screen")
    ended = await student.wait_for("source_ended")
    assert ended["source"] == f"{teacher_id}/screen"
    before = student.frames_by_label.get("camera", 0)
    async with asyncio.timeout(10):
        while student.frames_by_label.get("camera", 0) < before + 10:
            await asyncio.sleep(0.05)
    await screen.close()
    await student.close()
    await teacher.close()


async def test_labels_must_match_the_offer_and_students_share_no_screen(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    pc = new_pc()
    pc.addTrack(MovingVideo())
    await pc.setLocalDescription(await pc.createOffer())
    await teacher.send("publish", sdp=pc.localDescription.sdp, tracks=["microphone"])
    assert (await teacher.wait_for("error"))["code"] == "bad_message"
    await pc.close()
    await teacher.close()
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.send("publish", sdp="v=0\r\n", tracks=["screen"])
    assert (await student.wait_for("error"))["code"] == "not_allowed"
    await student.close()
