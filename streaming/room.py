"""Rooms and participants: who is in a live class, who publishes, who watches.

Free of aiohttp and aiortc: the WebSocket is reached through the participant's ``send`` and
``close`` callables, media through the ``MediaBackend`` port that ``aiortc_media`` implements.
The room is built of one module per concern (see ``room_core``); this one holds the class as a
whole — its end — and names what callers import.
"""

from __future__ import annotations

import asyncio
import contextlib

from access.events import EventKind
from access.models import ClassRole

from .breakout_room import BreakoutMixin
from .events import NotRecorded
from .media_ports import (
    HearsAudioLevel,
    HoldsTracks,
    MediaBackend,
    PublisherMedia,
    RecordingMedia,
    ViewerMedia,
)
from .participant import (
    CLOSE_CLASS_ENDED,
    CLOSE_MEDIA_FAILED,
    CLOSE_OPENED_ELSEWHERE,
    CLOSE_PROTOCOL,
    CLOSE_REMOVED,
    CLOSE_SERVER_STOPPING,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    Floor,
    Participant,
    Publication,
)
from .protocol import ProtocolError
from .room_core import Barred, InvalidStateError, ReconnectExpired, RoomState, WaitingForTeacher

__all__ = [
    "CLOSE_CLASS_ENDED",
    "CLOSE_MEDIA_FAILED",
    "CLOSE_OPENED_ELSEWHERE",
    "CLOSE_PROTOCOL",
    "CLOSE_REMOVED",
    "CLOSE_SERVER_STOPPING",
    "CLOSE_TOO_SLOW",
    "CLOSE_UNAUTHORIZED",
    "Barred",
    "Floor",
    "HearsAudioLevel",
    "HoldsTracks",
    "InvalidStateError",
    "MediaBackend",
    "Participant",
    "Publication",
    "PublisherMedia",
    "ReconnectExpired",
    "RecordingMedia",
    "Room",
    "RoomState",
    "ViewerMedia",
    "WaitingForTeacher",
]


class Room(BreakoutMixin):
    """One live class on this node."""

    end_reason: str | None = None  # why it ended (its end's reason), once it has

    # -- the end ------------------------------------------------------------------------------
    async def end(
        self, pid: str | None = None, reason: str = "ended_by_teacher", *, relayed: bool = False
    ) -> None:
        """End the class: everyone is recorded as having left, told, and disconnected.

        The record comes first, without awaiting anything; the telling and closing run shielded
        in a task of the room, so the caller's connection closing (the teacher's own) cannot
        cut it short. ``relayed``: a relay node's room, ending as the class's origin said
        (``cascade``): its people's departures are this node's to record, the class's end is
        the origin's.
        """
        if pid is not None and self._get(pid).role is not ClassRole.HOST:
            raise ProtocolError("not_allowed", "Only the teacher ends the class")
        if self.state is RoomState.ENDED:
            return
        self.state = RoomState.ENDED
        self.end_reason = reason
        for watcher in list(self.watchers):
            watcher()
        self._close_question_at_end()  # its tally goes into the record before the end
        self._close_breakout_at_end()  # everyone back in the main room, in the record
        members = sorted(self.participants.values(), key=lambda p: p.id == pid)  # caller last
        self.participants.clear()
        ended = None
        for p in members:
            ended = self._outbox.emit(
                EventKind.LEFT,
                self.class_id,
                user_id=p.user_id,
                participant_id=p.id,
                role=p.role.value,
                data={"reason": "class_ended"},
            )
        if not relayed:  # else told once its people's departures are in the record
            ended = self._outbox.emit(EventKind.CLASS_ENDED, self.class_id, data={"reason": reason})

        async def tell_and_close() -> None:
            with contextlib.suppress(NotRecorded):  # it stays pending; the class is over anyway
                if ended is not None:
                    await self._outbox.durable(ended)  # told "ended" once it is in the record
            await self._stop_recording_now("class ended")  # nobody is left to tell
            self._told_recording = False
            for p in members:
                await p.send("ended", reason=reason)
                await self._close_media(p)
                p.closed = True
                await p.close_ws(CLOSE_CLASS_ENDED, "class ended")
            await self._cancel_tasks()

        self._ending = asyncio.ensure_future(tell_and_close())
        await asyncio.shield(self._ending)

    async def shutdown(self) -> None:
        """The node stops: participants are disconnected (they may come back elsewhere)."""
        self._close_question_at_end()  # an open question's tally is kept; it goes no further
        self._close_breakout_at_end("server_stopping")
        for p in list(self.participants.values()):
            await p.send("error", code="server_stopping", message="The server is restarting")
            await self.leave(p.id, EventKind.DISCONNECTED, "server_stopping", wait=False)
            await p.close_ws(CLOSE_SERVER_STOPPING, "server stopping")
        await self._cancel_tasks()
