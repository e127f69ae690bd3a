"""Recording whoever presents: a presenting guest lecturer's camera in a file of its own, named
for the guest, with the class's sound (their voice in it); a student given the floor with camera
in one named for the student; the files cut anew when those pictures come and go, and listed to
those who may see the recording."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from streaming.aiortc_media import AiortcRecording
from tests.conftest import Academy, SignIn
from tests.integration.admission.test_guests import fields
from tests.integration.streaming.test_recording import loudness
from tests.integration.streaming.test_recording_presenter import decoded, stopped_files
from tests.peers import Peer, Tone, join, publish
from tests.peers import connect as connect_peer
from web.core import keys
from web.core.settings import Settings


async def presenting_guest(served: TestServer, academy: Academy, browser: ClientSession) -> Peer:
    """A guest lecturer the director approved, in the (live) class as a presenter."""
    accounts, guests = served.app[keys.ACCOUNTS], served.app[keys.GUESTS]
    head, director = accounts.by_login("head")[0], accounts.by_login("director")[0]
    r = guests.file(class_id=academy.class_id, by_id=head.id, by_name=head.full_name,
                    at=time.time(), **fields())  # type: ignore[arg-type]  # fmt: skip
    _r, token = guests.approve(r.id, director.id, director.full_name, "", time.time())
    assert (await browser.get(served.make_url(f"/invite/{token}"))).status == 200
    csrf = next(c.value for c in browser.cookie_jar if c.key == "sabaq_csrf")
    grant = await browser.post(
        served.make_url(f"/invite/{token}/join-token"),
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    body = await grant.json()
    assert grant.status == 200 and body["role"] == "presenter", body
    url = str(served.make_url(f"/media/classes/{academy.class_id}/ws"))
    guest = await connect_peer(url.replace("http://", "ws://"), body["token"])
    await guest.wait_for("welcome")
    return guest


async def until_heard(viewer: Peer, source: str, n: int = 10) -> None:
    """The viewer receives the source's publication (its sound, here)."""
    async with asyncio.timeout(15):
        while viewer.audio_by_source.get(source, 0) < n:
            await asyncio.sleep(0.05)


async def until_pictured(served: TestServer, class_id: int, suffix: str) -> None:
    """The class's recording has written frames of the picture whose file ends with ``suffix``
    (a file starts at its picture's first key frame: a stretch cut before that has none)."""
    async with asyncio.timeout(15):
        while True:
            room = served.app[keys.MEDIA_NODE].rooms.get(class_id)
            recording = room.recording if room is not None else None
            if isinstance(recording, AiortcRecording) and any(
                n.endswith(suffix) and frames > 0 for n, frames in recording.pictures().items()
            ):
                return
            await asyncio.sleep(0.05)


def one(files: list[str], suffix: str) -> str:
    (name,) = [f for f in files if f.endswith(suffix)]
    return name


async def test_a_presenting_guests_camera_is_recorded_in_a_file_of_its_own_with_their_voice(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    folder = settings.recordings_dir / str(academy.class_id)
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)  # the teacher's microphone is silent
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await teacher.send("start_recording")
    await until_pictured(served, academy.class_id, "camera.webm")  # the first stretch has begun
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        guest = await presenting_guest(served, academy, browser)
        gid = (await guest.wait_for("welcome"))["participant_id"]
        await publish(guest, sound=Tone())  # camera and a voice that can be told from silence
        await until_heard(student, gid)
        await asyncio.sleep(2.0)  # two seconds of the guest lecturing
        await guest.close()  # the guest leaves: their picture goes, the teacher's goes on
        stops = await stopped_files(served, academy.class_id, 2)
    await asyncio.sleep(1.0)
    await teacher.send("stop_recording")
    stops = await stopped_files(served, academy.class_id, 3)

    # Before the guest, with the guest, after: the teacher's camera in each stretch, the
    # guest's in a file named for them beside it while they presented.
    assert [sorted(n.split("Z-")[1] for n in files) for files in stops] == [
        ["camera.webm"],
        ["camera.webm", "presenter-camera.webm"],
        ["camera.webm"],
    ], stops
    every = [n for files in stops for n in files]
    assert len(every) == len(set(every)), f"a file was written over: {stops}"
    both = stops[1]
    assert (
        one(both, "Z-camera.webm").split("-")[0] == one(both, "presenter-camera.webm").split("-")[0]
    )  # one stamp: the two files cover the same stretch of the class
    presenter = folder / one(both, "-presenter-camera.webm")
    video, audio = decoded(presenter)
    assert video >= 20, video  # about 2 s at 30 fps, from the first key frame
    assert audio >= 50, audio  # 20 ms frames of the class's sound
    # The guest's voice is in the class's sound, in their file and in the teacher's alike.
    for path in (presenter, folder / one(both, "Z-camera.webm")):
        loud = [level for level in loudness(path) if level > 0.05]
        assert len(loud) >= 40, (path.name, len(loud))

    # Listed to the group like the others, and playable; not to others.
    learner = sign_in(academy.student_ids[1])
    listed = await (await learner.get(f"/classes/{academy.class_id}/recordings")).json()
    rows: dict[str, dict[str, Any]] = {r["name"]: r for r in listed["recordings"]}
    assert set(rows) == set(every)
    assert rows[presenter.name]["kind"] == "presenter-camera"
    url = rows[presenter.name]["url"]
    got = await learner.get(url)
    assert got.status == 200 and got.headers["Content-Type"] == "video/webm"
    assert (await sign_in(academy.outsider_id).get(url)).status == 403
    page = await (await learner.get(f"/classes/{academy.class_id}")).text()
    assert url in page
    await student.close()
    await teacher.close()


async def test_a_student_given_the_floor_with_camera_is_recorded_by_role_and_sound_only_is_not(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    speaker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    sid = (await speaker.wait_for("welcome"))["participant_id"]
    watcher = await join(sign_in(academy.student_ids[1]), academy.class_id)
    await teacher.send("start_recording")
    await until_pictured(served, academy.class_id, "camera.webm")
    for camera in (False, True):
        seen = len(speaker.messages)
        await teacher.send("grant_floor", participant_id=sid, camera=camera)
        await speaker.wait_for("floor_granted", after=seen)
        await publish(speaker, video=camera, sound=Tone())
        await until_heard(watcher, sid)
        await asyncio.sleep(1.5)
        seen = len(speaker.messages)
        await teacher.send("revoke_floor", participant_id=sid)
        await speaker.wait_for("floor_revoked", after=seen)
    await asyncio.sleep(1.0)  # the teacher alone again
    await teacher.send("stop_recording")
    stops = await stopped_files(served, academy.class_id, 3)
    # Sound only: no file, no cut. With camera: a file named for the student, cut around it.
    assert [sorted(n.split("Z-")[1] for n in files) for files in stops] == [
        ["camera.webm"],
        ["camera.webm", "student-camera.webm"],
        ["camera.webm"],
    ], stops
    path = Path(
        settings.recordings_dir / str(academy.class_id) / one(stops[1], "student-camera.webm")
    )
    video, audio = decoded(path)
    assert video >= 15 and audio >= 40, (video, audio)
    listed = await (await sign_in(academy.student_ids[2]).get(
        f"/classes/{academy.class_id}/recordings"
    )).json()  # fmt: skip
    assert "student-camera" in {r["kind"] for r in listed["recordings"]}
    await watcher.close()
    await speaker.close()
    await teacher.close()
