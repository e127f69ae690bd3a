"""What happens in class: hands raised, the floor given and taken back, the chat, removals."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from access.events import EventKind
from access.models import ClassRole

from .events import NotRecorded
from .limits import CHAT_BURST, CHAT_BURST_SECONDS
from .membership import MembershipMixin
from .participant import CLOSE_REMOVED, REMOVED_MESSAGE, Floor, Participant
from .protocol import ProtocolError, server_message


class ClassroomMixin(MembershipMixin):
    """The teacher's and students' doings in class: hands, floor, chat, removals."""

    async def raise_hand(self, pid: str, raised: bool) -> None:
        """A student raises their hand (joining the end of the queue; raised again, it keeps its
        place) or lowers it (leaving the queue)."""
        p = self._get(pid)
        if p.role is not ClassRole.LEARNER:
            raise ProtocolError("not_allowed", "Only students raise their hand")
        if p.hand_raised != raised:
            p.hand_raised = raised
            p.hand_ticket = next(self._hand_tickets) if raised else 0
            if raised:
                self._hands[p.user_id] = p.hand_ticket
            else:
                self._hands.pop(p.user_id, None)
            await self._broadcast_state()

    async def next_hand(self, by_pid: str, floor: Floor) -> None:
        """The teacher moves the floor to the first raised hand in the queue: whoever has it
        now loses it (a second "next" does not leave two students speaking)."""
        by = self._require_host(by_pid)
        queue = self.hand_queue()
        if not queue:
            await by.send("error", code="no_hands", message="No hand is raised")
            return
        first = queue[0]
        for holder in [q for q in self.participants.values() if q.floor is not None]:
            if holder is not first:
                await self.revoke_floor(None, holder.id)
        await self.grant_floor(by_pid, first.id, floor)

    async def grant_floor(self, by_pid: str, target_pid: str, floor: Floor) -> None:
        """The teacher gives a student the floor: their microphone (and camera, if allowed)
        will reach everyone once they publish."""
        self._require_host(by_pid)
        target = self.participants.get(target_pid)
        if target is None or target.role is not ClassRole.LEARNER:
            await self._get(by_pid).send(
                "error", code="no_such_participant", message="Only a student present can speak"
            )
            return
        target.floor = floor
        target.had_floor = True
        target.hand_raised = False
        target.hand_ticket = 0
        self._hands.pop(target.user_id, None)
        await target.send("floor_granted", camera=floor is Floor.AUDIO_VIDEO)
        await self._rerecord(target)  # in a seminar their camera, published already, is recorded
        await self._broadcast_state()

    async def revoke_floor(self, by_pid: str | None, target_pid: str) -> None:
        """The teacher takes the floor back (or mutes the speaker): their media stops."""
        if by_pid is not None:
            self._require_host(by_pid)
        target = self.participants.get(target_pid)
        if target is None or target.floor is None:
            return
        target.floor = None
        await self.unpublish(target.id, "main")
        await target.send("floor_revoked")
        await self._broadcast_state()

    # -- the teacher's mute: never an unmute ------------------------------------------------
    async def mute(self, by_pid: str, target_pid: str) -> None:
        """The teacher turns a participant's microphone off: held back from everyone at once,
        shown in the roster, and they are told (their page turns its microphone off). Only they
        can turn it on again."""
        target = await self._other_than_teacher(by_pid, target_pid)
        if target is None:
            return
        await self.set_media_state(target.id, False, target.camera_on)
        await target.send("muted", by="teacher")

    async def ask_unmute(self, by_pid: str, target_pid: str) -> None:
        """The teacher asks a muted participant to turn their microphone on: they are asked,
        and only their own ``media_state`` does it."""
        target = await self._other_than_teacher(by_pid, target_pid)
        if target is None:
            return
        await target.send("unmute_requested")

    async def _other_than_teacher(self, by_pid: str, target_pid: str) -> Participant | None:
        by = self._require_host(by_pid)
        target = self.participants.get(target_pid)
        if target is None or target is by:
            await by.send(
                "error", code="no_such_participant", message="That participant is not here"
            )
            return None
        return target

    # -- chat and moderation -----------------------------------------------------------------
    async def say(self, pid: str, text: str, to: str | None = None) -> None:
        """A chat message to everyone in the class, kept for late joiners and in the record; or,
        with ``to``, a private word with the teacher ("teacher") or the teacher's answer to one
        participant, which only those two receive (the record notes it as private)."""
        p = self._get(pid)
        private_to = None
        if to is not None:
            private_to = await self._private_to(p, to)
            if private_to is None:
                return
        now = time.time()
        if len(p.chat_times) == CHAT_BURST and now - p.chat_times[0] < CHAT_BURST_SECONDS:
            await p.send(
                "error", code="chat_too_fast", message="Wait a moment before the next message"
            )
            return
        p.chat_times.append(now)
        readers = (
            self._chat_readers(p)
            if private_to is None
            else frozenset({p.user_id, private_to.user_id})
        )
        data: dict[str, Any] = {"text": text}
        if private_to is not None:
            data.update(private=True, to_user_id=private_to.user_id)
        elif readers is not None:
            data["group"] = p.group  # said in a breakout group (or the main room meanwhile)
        event = self._emit_by(EventKind.CHAT_MESSAGE, p, data)
        message = {"id": event.id, "from": p.id, "name": p.name, "text": text, "at": now}
        if private_to is not None:
            message.update(private=True, to=private_to.id, to_name=private_to.name)
        elif readers is not None:
            message["group"] = p.group
        with contextlib.suppress(NotRecorded):  # it stays pending; shown as said
            await self._outbox.durable(event)  # in the record before anyone is shown it
        if readers is None:
            self.chat.append((message, None))
            if self.recording is not None:  # only what everyone reads goes beside the recording
                self.recording.note_chat(now, p.name, text)
            await self._broadcast(server_message("chat", **message))
            return
        self.chat.append((message, readers))
        text_out = server_message("chat", **message)
        for q in list(self.participants.values()):
            if q.user_id in readers:  # each of their tabs; nobody else
                await q.deliver(text_out)

    async def _private_to(self, p: Participant, to: str) -> Participant | None:
        """Whom a private word goes to: the teacher, from anyone else; a participant present,
        from the teacher. None (the sender told why) for anyone else."""
        if p.role is not ClassRole.HOST:
            host = self.host
            if to != "teacher" or host is None:
                await p.send(
                    "error",
                    code="not_allowed" if to != "teacher" else "no_teacher",
                    message="A private message goes to the teacher only"
                    if to != "teacher"
                    else "The teacher is not in the class",
                )
                return None
            return host
        target = self.participants.get(to)
        if target is None or target is p:
            await p.send("error", code="no_such_participant", message="Nobody to answer")
            return None
        return target

    async def remove_user(self, user_id: int, code: str, message: str) -> bool:
        """The control plane takes someone out (a guest whose approval was revoked): told why,
        recorded as removed, disconnected; True if they were here."""
        self.barred.add(user_id)
        found = [p for p in self.participants.values() if p.user_id == user_id]
        for target in found:
            await self.leave(target.id, EventKind.REMOVED, code, told=(code, message))
            await target.close_ws(CLOSE_REMOVED, code)
        self._gone = {pid: (u, t) for pid, (u, t) in self._gone.items() if u != user_id}
        return bool(found)

    async def remove(self, by_pid: str, target_pid: str) -> None:
        """The teacher removes a participant; they are told, and stay out of the class (also
        with a new join token, or after a restart) until the teacher lets them back."""
        by = self._require_host(by_pid)
        target = self.participants.get(target_pid)
        if target is None or target is by:
            await by.send("error", code="no_such_participant", message="Nobody to remove")
            return
        self.barred.add(target.user_id)  # before any await: no tab of theirs comes in meanwhile
        if self._barring is not None:
            self._barring(target.user_id)
        self._gone = {pid: (u, t) for pid, (u, t) in self._gone.items() if u != target.user_id}
        # Out at once (safety first); told, as the others are, once the register has it.
        recorded = await self.leave(
            target.id,
            EventKind.REMOVED,
            f"removed by user {by.user_id}",
            told=("removed", REMOVED_MESSAGE),
        )
        await target.close_ws(CLOSE_REMOVED, "removed")
        # Kept out beyond this node's memory (new join tokens, a restart): written once they are
        # out, so that no join of theirs slips between the bar above and their leaving.
        if self._keep_out is not None:
            await self._keep_out(target.user_id)
        if not recorded:
            await by.send(
                "error",
                code="removal_not_recorded",
                message="They were removed, but the register could not note it just now",
            )
