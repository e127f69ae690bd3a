"""Recording: the teacher's encoded media muxed into WebM without decoding, one file per video
track with the sound; everyone is told; the record says which files were made."""

from __future__ import annotations

import array
import asyncio
import math
import os
import time
from pathlib import Path

import av
from aiohttp.test_utils import TestServer

from access.events import EventKind
from streaming.webm_recorder import FRAME_BYTES, PREFILL, _Voice, mix, sweep_recordings, vp8_size
from tests.conftest import Academy, SignIn
from tests.peers import Tone, join, publish
from web.core import keys
from web.core.settings import Settings


def test_two_voices_are_summed_and_clipped() -> None:
    a = array.array("h", [1000, -2000, 30000, -30000] * (FRAME_BYTES // 8)).tobytes()
    b = array.array("h", [500, 500, 10000, -10000] * (FRAME_BYTES // 8)).tobytes()
    out = array.array("h", mix([a, b]))
    assert list(out[:4]) == [1500, -1500, 32767, -32768]
    assert mix([a, bytes(FRAME_BYTES)]) == a  # silence adds nothing
    assert mix([]) == bytes(FRAME_BYTES)


def test_a_voice_that_fell_behind_catches_up() -> None:
    voice = _Voice(None)  # type: ignore[arg-type]
    voice._pcm += bytes(FRAME_BYTES * (PREFILL - 1))
    assert voice.take() is None  # still filling its small buffer
    voice._pcm += bytes(FRAME_BYTES * 12)  # a stall, then a burst
    assert voice.take() is not None
    assert len(voice._pcm) == (PREFILL - 1) * FRAME_BYTES  # back near the target depth


def test_vp8_size_reads_the_key_frame_header() -> None:
    header = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    assert vp8_size(header) == (640, 480)


async def test_teacher_records_the_class(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.wait_frames(3)
    await student.send("start_recording")  # only the teacher records
    assert (await student.wait_for("error"))["code"] == "not_allowed"

    seen = len(teacher.messages)
    await teacher.send("start_recording")
    async with asyncio.timeout(5):
        while not any(
            m["type"] == "roster" and m.get("recording") for m in teacher.messages[seen:]
        ):
            await asyncio.sleep(0.02)
    await asyncio.sleep(2.0)  # two seconds of class
    await teacher.send("stop_recording")
    async with asyncio.timeout(5):
        while not any(
            m["type"] == "roster" and m.get("recording") is False
            for m in teacher.messages[seen + 1 :]
        ):
            await asyncio.sleep(0.02)
    await served.app[keys.MEDIA_NODE].outbox.flush()
    events = served.app[keys.LEDGER].events(academy.class_id)
    (stopped,) = [e.event for e in events if e.event.kind is EventKind.RECORDING_STOPPED]
    assert [e.event.kind for e in events].count(EventKind.RECORDING_STARTED) == 1
    (name,) = stopped.data["files"]
    assert name.endswith("-camera.webm")
    path = settings.recordings_dir / str(academy.class_id) / name
    with av.open(str(path)) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video"]
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (320, 240)
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 20  # about 2 s at 30 fps, playable from its first key frame

    # Listed on the class page and playable (seekable) for the group; nobody else gets it.
    learner = sign_in(academy.student_ids[1])
    page = await (await learner.get(f"/classes/{academy.class_id}")).text()
    url = f"/classes/{academy.class_id}/recordings/{name}"
    assert url in page
    whole = await learner.get(url)
    assert whole.status == 200 and whole.headers["Content-Type"] == "video/webm"
    part = await learner.get(url, headers={"Range": "bytes=0-99"})
    assert part.status == 206 and len(await part.read()) == 100
    assert (await sign_in(academy.outsider_id).get(url)).status == 403
    bad = await learner.get(f"/classes/{academy.class_id}/recordings/..%2Fsabaq.sqlite3")
    assert bad.status == 404
    await student.close()
    await teacher.close()


def loudness(path: Path) -> list[float]:
    """The recorded sound's RMS level per decoded frame, first channel (full scale = 1.0)."""
    levels = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            assert frame.format.name == "fltp", frame.format.name  # libopus decodes to float
            samples = array.array("f", bytes(frame.planes[0])[: frame.samples * 4])
            levels.append(math.sqrt(sum(x * x for x in samples) / len(samples)))
    return levels


async def test_the_recording_holds_the_voice_of_a_student_given_the_floor(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)  # the teacher's microphone is silent
    speaker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    speaker_id = (await speaker.wait_for("welcome"))["participant_id"]
    await teacher.send("start_recording")
    await asyncio.sleep(1.0)  # a second of the teacher alone
    await teacher.send("grant_floor", participant_id=speaker_id, camera=False)
    await speaker.wait_for("floor_granted")
    await publish(speaker, video=False, sound=Tone())
    await asyncio.sleep(1.5)  # the student speaks
    await teacher.send("revoke_floor", participant_id=speaker_id)
    await speaker.wait_for("floor_revoked")
    await asyncio.sleep(1.0)
    await teacher.send("stop_recording")
    await served.app[keys.MEDIA_NODE].outbox.flush()
    async with asyncio.timeout(5):
        while True:
            await served.app[keys.MEDIA_NODE].outbox.flush()
            events = served.app[keys.LEDGER].events(academy.class_id)
            stopped = [e.event for e in events if e.event.kind is EventKind.RECORDING_STOPPED]
            if stopped:
                break
            await asyncio.sleep(0.05)
    (name,) = stopped[0].data["files"]
    levels = loudness(settings.recordings_dir / str(academy.class_id) / name)
    loud = [i for i, level in enumerate(levels) if level > 0.05]
    # The tone is there for about the time the student had the floor (20 ms a frame), and
    # the recording is quiet before and after it.
    assert 40 <= len(loud) <= 90, len(loud)
    assert loud[0] > 20 and loud[-1] < len(levels) - 20
    await speaker.close()
    await teacher.close()


def test_recordings_past_their_retention_are_deleted(tmp_path: Path) -> None:
    old = tmp_path / "7" / "20250101T000000Z-camera.webm"
    new = tmp_path / "7" / "20261101T000000Z-camera.webm"
    old.parent.mkdir()
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    assert sweep_recordings(tmp_path, retention_days=30) == 1
    assert not old.exists() and new.exists()
