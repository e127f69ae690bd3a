"""The recording of a class: started by the teacher once the register has its start, stopped,
and begun anew (new files from that moment) when what it records changes.

What it records, each video track as a file of its own named by whose it is, every file with
the class's sound (see ``webm_recorder``):

- the teacher: ``<stamp>-camera.webm`` and ``<stamp>-screen.webm``;
- a presenting guest lecturer (who publishes like the teacher): ``<stamp>-presenter-camera.webm``
  and ``<stamp>-presenter-screen.webm``; a second guest presenting at the same time
  ``<stamp>-presenter-2-camera.webm``, and so on, in the order they joined;
- a student given the floor with camera: ``<stamp>-student-camera.webm`` (``student-2-`` for a
  second one). A recording of a lecture shows who is speaking: the question and its answer are
  part of the lecture, the student's voice is in the sound already, and it was the teacher who
  chose to give the floor with camera while everyone is shown that it records. The picture is
  kept under the same visibility (the group, its teachers, staff) and retention as the rest.
  A student with the floor for sound only is heard, never seen; a student's camera is never
  recorded without the floor, in a seminar (where students publish without it) too.

Microphones are not files: the teacher's, a presenter's and a student's with the floor (in a
seminar, every student's who publishes one) are mixed into the class's sound. A student's
microphone joins and leaves that sound without a new file; every change of the pictures recorded
(a camera or screen published or stopped, a presenter or a student with camera leaving) closes
the files and opens new ones from that moment, so that the files of one stamp cover the same
stretch of the class and play side by side. The recording stops when neither the teacher nor a
presenting guest publishes anything.

What its owner turned off is not recorded, even if the browser goes on sending it: a muted
microphone (their own choice or the teacher's mute) leaves the class's sound; a camera turned
off is held back from its file, which goes on with the sound and takes the picture up again from
a key frame when the camera is on (turning a camera off or on does not cut the files).
"""

from __future__ import annotations

from access.events import EventKind
from access.models import ClassRole

from .events import MediaEvent
from .media_ports import PublisherMedia
from .participant import Floor, Participant
from .room_core import RoomCore

Recorded = dict[str, tuple[PublisherMedia, tuple[str, ...]]]
FILE_ROLE = {ClassRole.HOST: "", ClassRole.PRESENTER: "presenter", ClassRole.LEARNER: "student"}


class RecordingMixin(RoomCore):
    """The recording: the room's ``recording`` and what the others are told of it."""

    async def start_recording(self, pid: str) -> None:
        """The teacher records the class; everyone is told that it is recording.

        The start goes into the record first and the recording begins once it is durable, so
        nobody is recorded before the register has it and everyone is told. One the register
        cannot take in time is not started (its stop is recorded after it) and the teacher is
        told so."""
        host = self._require_host(pid)
        if self.recording is not None or self._starting_recording:
            return
        if not self._presenting():
            await host.send("error", code="nothing_to_record", message="Start your camera first")
            return
        started = self._outbox.emit(
            EventKind.RECORDING_STARTED, self.class_id, user_id=host.user_id, role="host"
        )
        self._starting_recording = True
        try:
            recorded = await self._recorded(started)
        finally:
            self._starting_recording = False
        here = self.participants.get(host.id) is host and self._presenting()
        if not recorded or not here or self.ended or self.recording is not None:
            self._outbox.emit(
                EventKind.RECORDING_STOPPED,
                self.class_id,
                data={"files": [], "reason": "not_recorded" if not recorded else "not_started"},
            )
            if not recorded:
                await host.send(
                    "error",
                    code="recording_not_recorded",
                    message="The register could not note the recording just now: not started",
                )
            return
        self._record()
        self._told_recording = True
        await self._broadcast_state()

    def _presenting(self) -> bool:
        """Whether there is something to record: the teacher or a presenting guest publishes."""
        return any(
            p.publications and p.role in (ClassRole.HOST, ClassRole.PRESENTER)
            for p in self.participants.values()
        )

    def _recordable(self) -> Recorded:
        """The publications the recording takes now, each track labelled with the name of the
        file it goes to (``presenter-camera``, say; see the module's docstring)."""
        out: Recorded = {}
        count: dict[str, int] = {}
        for p in self.participants.values():
            role = FILE_ROLE.get(p.role)
            pubs = dict(p.publications)
            if p.role is ClassRole.LEARNER:  # only a camera given with the floor
                with_camera = p.floor is Floor.AUDIO_VIDEO
                pubs = {n: pub for n, pub in pubs.items() if with_camera and "camera" in pub.tracks}
            if role is None or not pubs:
                continue
            n = count[role] = count.get(role, 0) + 1
            prefix = "" if not role else f"{role}-" if n == 1 else f"{role}-{n}-"
            for name, pub in pubs.items():
                out[f"{p.id}/{name}"] = (pub.media, tuple(prefix + t for t in pub.tracks))
        return out

    def _held_pictures(self) -> frozenset[str]:
        """The labels of the recorded cameras whose owners turned them off."""
        held: set[str] = set()
        for key, (_media, labels) in self._recordable().items():
            p = self.participants.get(key.split("/", 1)[0])
            if p is not None and not p.camera_on:
                held.update(label for label in labels if label.endswith("camera"))
        return frozenset(held)

    def _record(self) -> None:
        recordable = self._recordable()
        self.recording = self._media.new_recording(self.class_id, recordable)
        self._recorded_set = [(key, media) for key, (media, _) in recordable.items()]
        self.recording.hold(self._held_pictures())
        for p in self.participants.values():
            if "main" in p.publications:
                self._set_voice(p)

    async def stop_recording(self, pid: str | None = None, reason: str = "stopped") -> None:
        """The recording stops at once; everyone is told once its stop is in the record."""
        if pid is not None:
            self._require_host(pid)
        stopped = await self._stop_recording_now(reason)
        if stopped is None:
            return
        await self._recorded(stopped)  # not in time: it did stop, and it stays pending
        self._told_recording = False
        await self._broadcast_state()

    async def _stop_recording_now(self, reason: str) -> MediaEvent | None:
        """Stop the recording and record its stop (None if nothing was recording)."""
        recording, self.recording = self.recording, None
        self._recorded_set = []
        if recording is None:
            return None
        files = await recording.stop()
        return self._outbox.emit(
            EventKind.RECORDING_STOPPED,
            self.class_id,
            data={"files": files, "reason": reason},
        )

    def _set_voice(self, p: Participant) -> None:
        """A microphone is in the recording's sound while its owner publishes it and has it on:
        the teacher's (the sound's first voice, ``host``), a presenter's, a student's with the
        floor or in a seminar."""
        main = p.publications.get("main")
        if self.recording is None:
            return
        key = "host" if p.role is ClassRole.HOST else p.id
        heard = main is not None and p.microphone_on
        self.recording.set_voice(key, main.media if main is not None and heard else None)

    def _rehold_recording(self, p: Participant) -> None:
        """``p`` turned their microphone or camera off or on: the recording follows at once."""
        if self.recording is None:
            return
        self.recording.hold(self._held_pictures())
        self._set_voice(p)

    async def _rerecord(self, p: Participant) -> None:
        """What ``p`` publishes changed, or ``p`` left. A change of the pictures recorded: new
        files from now. A student's microphone alone joins the recording's sound, or leaves it."""
        if self.recording is None:
            return
        now = [(key, media) for key, (media, _) in self._recordable().items()]
        if now == self._recorded_set:
            self._set_voice(p)
            return
        host = self.host
        if host is None or not self._presenting() or self.ended:
            await self.stop_recording(None, "publication changed")
            return
        # Recorded on, into new files: nobody is told anything new.
        stopped = await self._stop_recording_now("publication changed")
        if self._presenting() and not self.ended and self.recording is None:
            self._record()
            self._outbox.emit(
                EventKind.RECORDING_STARTED, self.class_id, user_id=host.user_id, role="host"
            )
        elif stopped is not None:  # the publication went while the files were closed
            await self._recorded(stopped)
            self._told_recording = False
            await self._broadcast_state()
