"""Joining and leaving: admission (takeovers, rejoins within the grace period, the barred),
the welcome once the join is durable, and departures told once they are.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from access.events import EventKind
from access.models import GUESTS, ClassRole

from .events import MediaEvent, NotRecorded
from .participant import CLOSE_OPENED_ELSEWHERE, Participant
from .protocol import server_message
from .room_core import Barred, InvalidStateError, ReconnectExpired, RoomState, WaitingForTeacher
from .room_media import MediaMixin


class MembershipMixin(MediaMixin):
    """Who is in the room: admissions and departures."""

    async def join(
        self, p: Participant, *, rejoin: bool = False, welcome: dict[str, Any] | None = None
    ) -> None:
        """Admit a participant. A rejoin (same participant id, after a drop within the grace
        period) is recorded as a reconnect, not as a new person; a second tab of the same
        person takes over from the first; sockets of one person opened together are admitted
        one after another, each taking over the one before, so the newest stays alone."""
        lock, waiting = self._admitting.get(p.user_id, (asyncio.Lock(), 0))
        self._admitting[p.user_id] = (lock, waiting + 1)
        try:
            async with lock:
                await self._admit(p, rejoin=rejoin, welcome=welcome)
        finally:
            lock, waiting = self._admitting[p.user_id]
            if waiting == 1:
                del self._admitting[p.user_id]
            else:
                self._admitting[p.user_id] = (lock, waiting - 1)

    async def _admit(self, p: Participant, *, rejoin: bool, welcome: dict[str, Any] | None) -> None:
        if self.state is RoomState.ENDED:
            raise InvalidStateError(f'Cannot join class {self.class_id} in state "{self.state}"')
        if p.user_id in self.barred:
            raise Barred(f"User {p.user_id} was taken out of class {self.class_id}")
        if p.role in GUESTS and self.state is RoomState.WAITING:
            raise WaitingForTeacher(f"Class {self.class_id} has not started: guests wait")
        now = time.monotonic()
        self._gone = {pid: (u, t) for pid, (u, t) in self._gone.items() if t >= now}
        awaited = any(u == p.user_id for u, _ in self._gone.values())  # dropped, within grace
        if not rejoin:
            # A new tab of the person: an older dropped tab may no longer come back over it.
            self._gone = {pid: (u, t) for pid, (u, t) in self._gone.items() if u != p.user_id}
        takeover = [q for q in self.participants.values() if q.user_id == p.user_id]
        if rejoin and p.id not in self._gone and all(q.id != p.id for q in takeover):
            raise ReconnectExpired(f"Participant {p.id} is not expected back")
        for old in takeover:
            # The person opened the class again: the newer tab wins, the older one is told.
            await old.send(
                "error", code="opened_elsewhere", message="The class was opened in another tab"
            )
            await self._drop(old)
            await old.close_ws(CLOSE_OPENED_ELSEWHERE, "opened elsewhere")
        if self.ended:  # ended while the takeover was closing the old tab
            raise InvalidStateError(f'Cannot join class {self.class_id} in state "{self.state}"')
        if p.user_id in self.barred:  # checked last, after every await: a revocation may land
            raise Barred(f"User {p.user_id} was taken out of class {self.class_id}")
        self._gone.pop(p.id, None)
        # Their raised hand keeps its place if they come back (or took over) within the grace.
        ticket = self._hands.get(p.user_id) if awaited or takeover else None
        if ticket is None:
            self._hands.pop(p.user_id, None)
        else:
            p.hand_raised, p.hand_ticket = True, ticket
        # So do a microphone and camera turned off (by them, or the teacher's mute).
        state = self._media_states.get(p.user_id) if awaited or takeover else None
        if state is None:
            self._media_states.pop(p.user_id, None)
        else:
            p.microphone_on, p.camera_on = state
        self._low_bandwidth &= self._gone.keys() | self.participants.keys() | {p.id}
        p.low_bandwidth = rejoin and p.id in self._low_bandwidth
        recorded = self._outbox.emit(
            EventKind.RECONNECTED if rejoin else EventKind.JOINED,
            self.class_id,
            user_id=p.user_id,
            participant_id=p.id,
            role=p.role.value,
            data={"takeover": True} if takeover and not rejoin else {},
        )
        if p.role is ClassRole.HOST and self.state is RoomState.WAITING:
            self.state = RoomState.LIVE
            recorded = self._outbox.emit(
                EventKind.CLASS_STARTED, self.class_id, user_id=p.user_id, role=p.role.value
            )
        await self._welcome_durably(p, recorded)
        self.participants[p.id] = p
        await p.send(
            "welcome",
            participant_id=p.id,
            class_id=self.class_id,
            role=p.role.value,
            state=self.state.value,
            roster=self.roster(),
            chat=self.chat_for(p.user_id),
            low_bandwidth=p.low_bandwidth,
            mode=self.mode_for(p).value,
            active_speaker=self.speakers_of(p.group).current,
            microphone=p.microphone_on,
            camera=p.camera_on,
            **(welcome or {}),
        )
        await self._broadcast_state()
        for source, name in self.sources():
            if source is not p:
                self._spawn(self._subscribe(p, source, name))

    async def _welcome_durably(self, p: Participant, recorded: MediaEvent) -> None:
        """A welcome is an acknowledgement: it waits until the join is durable (committed, or
        in the cluster's stream or disk buffer). If the class ended or the person was taken
        out meanwhile, or the join cannot be recorded, their stay is closed and they are not
        welcomed."""
        try:
            await self._outbox.durable(recorded)
        except BaseException as exc:  # NotRecorded, or the server stopping under the join
            self._record_departure(p, "not_recorded" if isinstance(exc, NotRecorded) else "")
            raise
        if self.ended:
            self._record_departure(p, "class_ended")
            raise InvalidStateError(f'Cannot join class {self.class_id} in state "{self.state}"')
        if p.user_id in self.barred:
            self._record_departure(p, "revoked")
            raise Barred(f"User {p.user_id} was taken out of class {self.class_id}")

    def _record_departure(self, p: Participant, reason: str) -> None:
        self._outbox.emit(
            EventKind.LEFT if reason else EventKind.DISCONNECTED,
            self.class_id,
            user_id=p.user_id,
            participant_id=p.id,
            role=p.role.value,
            data={"reason": reason or "server_stopping"},
        )

    async def leave(
        self,
        pid: str,
        kind: EventKind = EventKind.LEFT,
        reason: str = "",
        *,
        told: tuple[str, str] | None = None,
        wait: bool = True,
    ) -> bool:
        """The participant is gone (closed the page, dropped, or was removed).

        They are out at once: nothing more reaches them and their media is closed. The others
        are told (they see the roster without them) once the departure is durable, so nobody
        is told of a departure the register does not have; one not durable within the outbox's
        bound is told all the same (the person is gone; the event stays pending). Without
        ``told`` that telling runs in a task of the room and this returns at once: one who
        leaves is not held on a slow commit. With ``told`` (an error code and message saying
        why they are out) the participant is told too, and this waits for it: it returns
        whether the departure is durable. ``wait=False`` (the node stopping): nobody is told."""
        p = self.participants.get(pid)
        if p is None:
            return True
        was_source = self._detach(p)
        self._departing[p.id] = p
        try:
            stopped = False
            if p.role is ClassRole.HOST:
                stopped = await self._stop_recording_now("teacher left") is not None
            elif self.recording is not None:
                self.recording.set_voice(p.id, None)
                if was_source and wait:
                    # Their pictures (a presenter's, a student's camera) go from the recording:
                    # in a task of the room, which the end of this connection does not cancel.
                    self._spawn(self._rerecord(p))
            if kind is EventKind.DISCONNECTED:
                self._gone[p.id] = (p.user_id, time.monotonic() + self._grace)
            else:
                self._low_bandwidth.discard(p.id)
                if all(q.user_id != p.user_id for q in self.participants.values()):
                    self._hands.pop(p.user_id, None)  # gone for good: so is the hand
                    self._media_states.pop(p.user_id, None)  # and the muted microphone
            event = self._outbox.emit(
                kind,
                self.class_id,
                user_id=p.user_id,
                participant_id=p.id,
                role=p.role.value,
                data={"reason": reason} if reason else {},
            )
            await self._release(p, was_source)
        except BaseException:
            self._departed(p)
            raise
        if not wait:
            self._departed(p)
            return False
        if told is None:
            self._spawn(self._tell_departure(p, event, stopped, None))
            return True
        return await self._tell_departure(p, event, stopped, told)

    async def _tell_departure(
        self, p: Participant, event: MediaEvent, stopped: bool, told: tuple[str, str] | None
    ) -> bool:
        try:
            recorded = await self._recorded(event)
        finally:
            self._departed(p)
        if stopped:
            self._told_recording = False
        if told is not None:
            await p.deliver(server_message("error", code=told[0], message=told[1]), last=True)
        await self._broadcast_state()
        return recorded

    def _departed(self, p: Participant) -> None:
        """Their departure is told (or will never be): out of the roster."""
        if self._departing.get(p.id) is p:
            del self._departing[p.id]

    def _detach(self, p: Participant) -> bool:
        """Take the participant out of the room; True if others were watching them."""
        was_source = bool(p.publications)
        self.participants.pop(p.id, None)
        p.closed = True
        return was_source

    async def _release(self, p: Participant, was_source: bool) -> None:
        names = list(p.publications)
        await self._close_media(p)
        if was_source:
            for name in names:
                await self._stop_watching(p.source_id(name))

    async def _drop(self, p: Participant) -> None:
        await self._release(p, self._detach(p))
