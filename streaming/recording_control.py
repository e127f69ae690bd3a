"""The recording of a class: started by the teacher once the register has its start, stopped,
and begun anew when what the teacher publishes changes.
"""

from __future__ import annotations

from access.events import EventKind
from access.models import ClassRole

from .events import MediaEvent
from .participant import Participant
from .room_core import RoomCore


class RecordingMixin(RoomCore):
    """The recording: the room's ``recording`` and what the others are told of it."""

    async def start_recording(self, pid: str) -> None:
        """The teacher records what they publish; everyone is told that it is recording.

        The start goes into the record first and the recording begins once it is durable, so
        nobody is recorded before the register has it and everyone is told. One the register
        cannot take in time is not started (its stop is recorded after it) and the teacher is
        told so."""
        host = self._require_host(pid)
        if self.recording is not None or self._starting_recording:
            return
        if not host.publications:
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
        here = self.participants.get(host.id) is host and bool(host.publications)
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
        self._record(host)
        self._told_recording = True
        await self._broadcast_state()

    def _record(self, host: Participant) -> None:
        self.recording = self._media.new_recording(
            self.class_id,
            {name: (pub.media, pub.tracks) for name, pub in host.publications.items()},
        )
        for p in self.participants.values():
            if p.role is not ClassRole.HOST and "main" in p.publications:
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
        if recording is None:
            return None
        files = await recording.stop()
        return self._outbox.emit(
            EventKind.RECORDING_STOPPED,
            self.class_id,
            data={"files": files, "reason": reason},
        )

    def _set_voice(self, p: Participant) -> None:
        """A student's microphone is in the recording's sound while they publish one."""
        main = p.publications.get("main")
        if self.recording is not None:
            self.recording.set_voice(p.id, main.media if main is not None else None)

    async def _rerecord(self, host: Participant) -> None:
        """What the teacher publishes changed (screen shared or stopped): new files from now.
        A student's microphone, given the floor, joins the recording's sound, and leaves it."""
        if self.recording is not None and host.role is not ClassRole.HOST:
            self._set_voice(host)
            return
        if self.recording is not None and host.role is ClassRole.HOST:
            if not host.publications or self.ended:
                await self.stop_recording(None, "publication changed")
                return
            # Recorded on, into new files: nobody is told anything new.
            stopped = await self._stop_recording_now("publication changed")
            if host.publications and not self.ended and self.recording is None:
                self._record(host)
                self._outbox.emit(
                    EventKind.RECORDING_STARTED, self.class_id, user_id=host.user_id, role="host"
                )
            elif stopped is not None:  # the publication went while the files were closed
                await self._recorded(stopped)
                self._told_recording = False
                await self._broadcast_state()
