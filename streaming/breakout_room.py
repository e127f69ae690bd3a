"""Breakout groups in a room: opened, visited, told, given more time, closed. The rules of who is
in which group are ``breakout``'s; this applies them.

A group is a room of its own inside the class's room, on the same node and over the same peer
connections: what a participant in one group publishes is held back from everyone outside it
(``participant.held_tracks``), so no packet crosses groups, and nothing is renegotiated when
someone moves — a move only holds and releases tracks. Inside a group everyone may publish (a
seminar), and the chat is the group's. The teacher (or a presenting guest) visits a group by
moving into it. At the close (the timer, or the teacher) everyone is back in the main room on
the connections they had.

What the record keeps: the opening (the groups, the duration, where late ones go), each move
(a learner placed, arriving into their group, a visit, back to the main room) and the close.
Moves are not departures: time in a group is presence in the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

from access.events import EventKind
from access.ids import uuid7
from access.models import PUBLISHERS, ClassRole, RoomMode

from .breakout import Breakout, BreakoutRefused, SplitDraft, plan
from .events import NotRecorded
from .participant import Participant
from .protocol import ProtocolError, server_message
from .questions_room import QuestionsMixin
from .room_core import RoomState

BREAKOUT_TICK = 1.0  # seconds between two looks at the clock while groups are open


class BreakoutMixin(QuestionsMixin):
    """Breakout groups: at most one set open at a time."""

    breakout: Breakout | None = None
    # The clock durations are measured with, and the shuffle of a random split (tests set both).
    breakout_clock: Callable[[], float] = time.monotonic
    breakout_rng: random.Random = random.SystemRandom()
    _breakout_timer: asyncio.Task[None] | None = None

    def _open_breakout(self) -> Breakout | None:
        b = self.breakout
        return b if b is not None and not b.closed else None

    # -- joining: into one's group --------------------------------------------------------
    async def join(
        self, p: Participant, *, rejoin: bool = False, welcome: dict[str, Any] | None = None
    ) -> None:
        b = self._open_breakout()
        if b is not None and p.role is ClassRole.LEARNER:
            # Before the admission, so that every media of the class is held as the group
            # says from the first offer on; a learner coming back finds their own group.
            present = [q.user_id for q in self.participants.values() if q.group is not None]
            p.group = b.place(p.user_id, present)
            p.was_in_group = p.group is not None
        await super().join(p, rejoin=rejoin, welcome=welcome)
        if self.participants.get(p.id) is not p or b is None or b is not self._open_breakout():
            return
        if p.group is not None:
            self._record_move(p, b, arrived=True)
        await self._tell_breakout(p)

    # -- the teacher's doings -------------------------------------------------------------
    def _may_lead(self, pid: str) -> Participant:
        return self._require_presenter(pid, "Only the teacher or a presenter leads the groups")

    async def _refused(self, p: Participant, exc: BreakoutRefused) -> None:
        await p.send("error", code=exc.code, message=exc.message)

    async def _current(self, p: Participant) -> Breakout | None:
        b = self._open_breakout()
        if b is None:
            await p.send("error", code="no_breakout", message="No breakout groups are open")
        return b

    async def open_breakout(self, pid: str, draft: SplitDraft) -> None:
        """The teacher splits the students present into groups and opens them for the
        duration: each student is moved into their group (a seminar of its own), everyone is
        told who is where and how long is left."""
        by = self._require_host(pid)
        if self.state is not RoomState.LIVE:
            raise ProtocolError("bad_state", f'The class is "{self.state}", not live')
        if self._open_breakout() is not None:
            await by.send(
                "error", code="breakout_open", message="Close the open groups before new ones"
            )
            return
        learners = [p for p in self.participants.values() if p.role is ClassRole.LEARNER]
        try:
            groups = plan(draft, sorted({p.user_id for p in learners}), self.breakout_rng)
        except BreakoutRefused as exc:
            await self._refused(by, exc)
            return
        now = self.breakout_clock()
        b = Breakout(str(uuid7()), groups, draft.late, now, now + draft.seconds, saved=draft.save)
        self.breakout = b
        self.was_seminar = True  # offers made in a group's seminar are not offences later
        # Those the split names first, then the others present, placed as late ones are.
        present: list[int] = []
        moved: list[Participant] = []
        for p in sorted(learners, key=lambda q: (b.group_of(q.user_id) is None, q.user_id)):
            p.group = b.place(p.user_id, present)
            if p.group is not None:
                p.was_in_group = True
                present.append(p.user_id)
                moved.append(p)
        # The record: the groups as opened (a saved split is offered for the group's next
        # classes), then each student's move into their group.
        opened = self._emit_by(EventKind.BREAKOUT_OPENED, by, b.ledger_data())
        for p in moved:
            self._record_move(p, b)
        with contextlib.suppress(NotRecorded):  # it stays pending; opened all the same
            await self._outbox.durable(opened)
        self._regroup()
        self._start_breakout_timer(b)
        for p in list(self.participants.values()):
            await self._tell_breakout(p)
            if p.group is not None:
                await self._tell_mode(p, self.mode)
                await self._tell_speaker(p)
        await self._broadcast_state()

    async def move_to_group(self, pid: str, group: int | None, target_pid: str | None) -> None:
        """The teacher or a presenter visits a group (``group``: None is the main room), or the
        teacher moves a student into another group."""
        by = self._may_lead(pid)
        b = await self._current(by)
        if b is None:
            return
        try:
            group = b.check_group(group)
        except BreakoutRefused as exc:
            await self._refused(by, exc)
            return
        who = by
        if target_pid is not None and target_pid != by.id:
            target = self.participants.get(target_pid)
            if by.role is not ClassRole.HOST or target is None:
                await by.send(
                    "error",
                    code="no_such_participant",
                    message="Only the teacher moves a student present",
                )
                return
            who = target
            if who.role is ClassRole.LEARNER:
                b.move(who.user_id, group)
        if who.group == group:
            await self._tell_breakout(who)
            return
        before = self.mode_for(who)
        who.group = group
        who.was_in_group = who.was_in_group or group is not None
        self._record_move(who, b)
        self._regroup()
        if group is None:
            await self._stop_group_screen(who)
        await self._tell_breakout(who)
        await self._tell_mode(who, before)
        await self._tell_speaker(who)
        if who is not by:
            await self._tell_breakout(by)
        await self._broadcast_state()

    async def broadcast(self, pid: str, text: str) -> None:
        """A message from the teacher (or a presenter) to every group and the main room: in
        everyone's chat, and in the record."""
        by = self._may_lead(pid)
        now = time.time()
        event = self._emit_by(EventKind.CHAT_MESSAGE, by, {"text": text, "broadcast": True})
        message = {
            "id": event.id,
            "from": by.id,
            "name": by.name,
            "text": text,
            "at": now,
            "broadcast": True,
        }
        with contextlib.suppress(NotRecorded):  # it stays pending; said all the same
            await self._outbox.durable(event)
        self.chat.append((message, None))
        await self._broadcast(server_message("chat", **message))

    async def add_time(self, pid: str, seconds: int) -> None:
        """More time for the open groups; everyone is told the time left."""
        by = self._may_lead(pid)
        b = await self._current(by)
        if b is None:
            return
        try:
            b.add_time(seconds, self.breakout_clock())
        except BreakoutRefused as exc:
            await self._refused(by, exc)
            return
        for p in list(self.participants.values()):
            await self._tell_breakout(p)

    async def close_breakout(self, pid: str) -> None:
        """The teacher (or a presenter) closes the groups before their time is over."""
        by = self._may_lead(pid)
        b = await self._current(by)
        if b is not None:
            await self._close_breakout(b, "teacher")

    # -- the close --------------------------------------------------------------------------
    def _start_breakout_timer(self, b: Breakout) -> None:
        if self._breakout_timer is not None:
            self._breakout_timer.cancel()
        self._breakout_timer = self._start_timer(self._close_when_over(b), "the groups' timer")

    async def _close_when_over(self, b: Breakout) -> None:
        # Looks at the clock every tick rather than sleeping to the end: time may be added.
        while not b.due(self.breakout_clock()):
            if b.closed:
                return
            await asyncio.sleep(min(BREAKOUT_TICK, b.remaining(self.breakout_clock())))
        await self._close_breakout(b, "timer")

    async def _close_breakout(self, b: Breakout, reason: str) -> None:
        """Everyone back in the main room, on the connections they have: the groups' holds are
        released (pictures from a keyframe), nobody is asked for a device again."""
        if not b.close():
            return
        if self._breakout_timer is not None and self._breakout_timer is not asyncio.current_task():
            self._breakout_timer.cancel()
        self._breakout_timer = None
        moved = self._back_to_main(b, reason)
        self.group_speakers.clear()
        self._regroup()
        for p in moved:
            await self._stop_group_screen(p)
            await self._tell_speaker(p)  # the main room's, in place of their group's
            await self._tell_mode(p, RoomMode.SEMINAR)
            if self.mode is RoomMode.LECTURE:
                await self._stop_unless_allowed(p)
        await self._broadcast(server_message("breakout_closed", id=b.id, reason=reason))
        await self._broadcast_state()

    def _back_to_main(self, b: Breakout, reason: str) -> list[Participant]:
        """The record of the close: each one in a group back in the main room, then the close."""
        moved = [p for p in self.participants.values() if p.group is not None]
        for p in moved:
            p.group = None
            self._record_move(p, b)
        self._outbox.emit(
            EventKind.BREAKOUT_CLOSED,
            self.class_id,
            data={"breakout": b.id, "reason": reason},
        )
        return moved

    def _close_breakout_at_end(self, reason: str = "class_ended") -> None:
        """The class ends (or its node stops) with groups open: their close is recorded first."""
        b = self._open_breakout()
        if b is not None and b.close():
            self._back_to_main(b, reason)
            self.group_speakers.clear()
        if self._breakout_timer is not None:
            self._breakout_timer.cancel()
            self._breakout_timer = None

    # -- helpers ------------------------------------------------------------------------------
    def _record_move(self, p: Participant, b: Breakout, *, arrived: bool = False) -> None:
        data: dict[str, Any] = {"breakout": b.id, "group": p.group}
        if arrived:
            data["arrived"] = True
        self._emit_by(EventKind.BREAKOUT_MOVED, p, data)

    def _regroup(self) -> None:
        """Someone moved: every viewer's holds follow at once (no packet crosses groups)."""
        for viewer in list(self.participants.values()):
            self._rehold(viewer)

    def _chat_readers(self, p: Participant) -> frozenset[int] | None:
        """While groups are open a message is its group's (or the main room's): those in it now,
        and a group's own members (one who dropped reads it on coming back)."""
        b = self._open_breakout()
        if b is None:
            return None
        here = {q.user_id for q in self.participants.values() if q.group == p.group}
        if p.group is not None:
            here.update(b.groups[p.group])
        return frozenset(here)

    async def _tell_mode(self, p: Participant, before: RoomMode) -> None:
        """A move changed the mode a participant is in (a group is a seminar): they are told."""
        if self.mode_for(p) is not before:
            await p.send("mode", mode=self.mode_for(p).value)

    async def _stop_group_screen(self, p: Participant) -> None:
        """Back in the main room, a student's screen shared in a group stops (their page, told
        by ``breakout_closed`` or ``breakout``, stops sending it)."""
        if "screen" in p.publications and p.role not in PUBLISHERS:
            await self.unpublish(p.id, "screen")

    async def _tell_speaker(self, p: Participant) -> None:
        """A move: the page's active speaker is the one of the group (or room) it is in now."""
        await p.send("active_speaker", source=self.speakers_of(p.group).current)

    async def _tell_breakout(self, p: Participant) -> None:
        b = self._open_breakout()
        if b is None or self.ended:
            return
        await p.send("breakout", **b.public(self.breakout_clock()), group=p.group)
