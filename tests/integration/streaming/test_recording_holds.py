"""What its owner turned off is not recorded even when the browser goes on sending it (aiortc
peers here keep sending after ``media_state`` off): the teacher's muted voice leaves the sound,
the camera turned off leaves a gap in its file, without cutting it. In a seminar, where students
publish without the floor, a student's voice is in the sound and their camera is recorded only
once they are given the floor with camera."""

from __future__ import annotations

import array
import asyncio
import itertools
import math

import av
from aiohttp.test_utils import TestServer

from tests.conftest import Academy, SignIn
from tests.integration.streaming.test_recording import loudness
from tests.integration.streaming.test_recording_guest import one, until_heard, until_pictured
from tests.integration.streaming.test_recording_presenter import decoded, stopped_files
from tests.peers import Tone, join, publish
from web.core.settings import Settings

LOUD = 0.05


def times(path: str, kind: str, loud: bool = False) -> list[float]:
    """The presentation times (seconds) of the decoded video frames, or of the audio frames
    (only the loud ones if ``loud``)."""
    out: list[float] = []
    with av.open(path) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        for frame in container.decode(stream):
            assert isinstance(frame, av.VideoFrame | av.AudioFrame)
            if frame.pts is None or frame.time_base is None:
                continue
            if loud:
                assert isinstance(frame, av.AudioFrame)
                samples = array.array("f", bytes(frame.planes[0])[: frame.samples * 4])
                if math.sqrt(sum(x * x for x in samples) / len(samples)) <= LOUD:
                    continue
            out.append(float(frame.pts * frame.time_base))
    return out


def longest_gap(moments: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(moments)), default=0.0)


async def test_a_muted_microphone_and_a_camera_turned_off_are_not_recorded(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    tid = (await teacher.wait_for("welcome"))["participant_id"]
    await publish(teacher, sound=Tone())  # a voice, and it goes on sending when turned off
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await until_heard(student, tid)
    await teacher.send("start_recording")
    await until_pictured(served, academy.class_id, "camera.webm")
    await asyncio.sleep(1.0)
    await teacher.send("media_state", microphone=False, camera=False)
    await asyncio.sleep(1.5)
    await teacher.send("media_state", microphone=True, camera=True)
    await asyncio.sleep(1.5)
    await teacher.send("stop_recording")
    (files,) = await stopped_files(served, academy.class_id, 1)

    # One file all along: turning the camera off and on did not cut it.
    path = str(settings.recordings_dir / str(academy.class_id) / one(files, "Z-camera.webm"))
    video = times(path, "video")
    voice = times(path, "audio", loud=True)
    assert len(video) >= 30 and len(voice) >= 60, (len(video), len(voice))
    # While off, nothing of the picture or of the voice is in it, though both were sent.
    assert longest_gap(video) >= 1.0, longest_gap(video)
    assert longest_gap(voice) >= 1.0, longest_gap(voice)
    # Before and after, both are.
    assert video[0] < 1.0 and voice[0] < 1.0, (video[0], voice[0])
    assert video[-1] - video[0] >= 3.0 and voice[-1] - voice[0] >= 3.0
    await student.close()
    await teacher.close()


async def test_in_a_seminar_a_students_camera_is_recorded_only_with_the_floor(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)  # the teacher's microphone is silent
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    sid = (await student.wait_for("welcome"))["participant_id"]
    seen = len(student.messages)
    await teacher.send("set_mode", mode="seminar")
    assert (await student.wait_for("mode", after=seen))["mode"] == "seminar"
    await publish(student, sound=Tone())  # camera and voice, without the floor
    await until_heard(teacher, sid)
    await teacher.send("start_recording")
    await until_pictured(served, academy.class_id, "camera.webm")
    await asyncio.sleep(1.5)
    seen = len(student.messages)
    await teacher.send("grant_floor", participant_id=sid, camera=True)
    await student.wait_for("floor_granted", after=seen)
    await until_pictured(served, academy.class_id, "student-camera.webm")
    await asyncio.sleep(1.5)
    await teacher.send("stop_recording")
    stops = await stopped_files(served, academy.class_id, 2)

    # Without the floor only the teacher's picture; with it, the student's in a file of its own.
    assert [sorted(n.split("Z-")[1] for n in files) for files in stops] == [
        ["camera.webm"],
        ["camera.webm", "student-camera.webm"],
    ], stops
    folder = settings.recordings_dir / str(academy.class_id)
    # The student's voice is in the seminar's sound before the floor as well.
    before = loudness(folder / one(stops[0], "Z-camera.webm"))
    assert len([level for level in before if level > LOUD]) >= 30, len(before)
    video, _audio = decoded(folder / one(stops[1], "student-camera.webm"))
    assert video >= 15, video
    await student.close()
    await teacher.close()


async def test_a_camera_off_when_the_recording_starts_still_leaves_the_sound_recorded(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    """The teacher starts recording with the camera off: everyone is told it records, and it
    does — the file holds the sound from the start, the picture from when the camera is on."""
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    tid = (await teacher.wait_for("welcome"))["participant_id"]
    await publish(teacher, sound=Tone())
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await until_heard(student, tid)
    await teacher.send("media_state", microphone=True, camera=False)
    await asyncio.sleep(0.3)
    await teacher.send("start_recording")
    await asyncio.sleep(1.5)
    await teacher.send("media_state", microphone=True, camera=True)
    await until_pictured(served, academy.class_id, "camera.webm")
    await asyncio.sleep(1.5)
    await teacher.send("stop_recording")
    (files,) = await stopped_files(served, academy.class_id, 1)
    path = str(settings.recordings_dir / str(academy.class_id) / one(files, "Z-camera.webm"))
    video, voice = times(path, "video"), times(path, "audio", loud=True)
    assert len(voice) >= 100 and voice[0] < 0.5, (len(voice), voice[:1])  # sound from the start
    assert len(video) >= 15 and video[0] >= 1.0, (len(video), video[:1])  # picture once on
    await student.close()
    await teacher.close()
