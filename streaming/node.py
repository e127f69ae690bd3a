"""A media node: the rooms it hosts, the events it reports, the commands it answers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from access.models import RoomMode
from access.tokens import TokenSigner

from .events import EventOutbox, EventSink, Spool
from .participant import REMOVED_MESSAGE
from .piping import RelayPipe
from .room import MediaBackend, Room, RoomState
from .room_core import ACTIVE_SPEAKER_HOLD
from .stats import JOIN_BUCKETS, Histogram, LinkTally

log = logging.getLogger("sabaq.streaming.node")


@dataclass(frozen=True, slots=True)
class MediaSettings:
    node_id: str = "media-1"
    # Addresses ICE advertises as host candidates (tests: 127.0.0.1; production: the public
    # or LAN address). Empty means every interface's address, as aioice does by itself.
    ice_addresses: tuple[str, ...] = ()
    # STUN/TURN URLs given to the server's peer connections; empty means none at all.
    ice_servers: tuple[str, ...] = ()
    join_timeout: float = 10.0
    # How long a participant whose connection dropped may come back as the same person.
    reconnect_grace: float = 60.0
    heartbeat: float = 15.0  # WebSocket pings to each browser
    # How often the node tells the control plane it is alive; presence a crash leaves open is
    # closed at the last one, so this bounds how much presence a crash can over-count.
    node_heartbeat: float = 5.0
    # How long a new active speaker must be the loudest before everyone's stage moves to them.
    active_speaker_hold: float = ACTIVE_SPEAKER_HOLD
    # What time it is for the events' and the heartbeats' times (the control plane's clock).
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)


class ClassGate(Protocol):
    """What a node asks before letting someone into a class: in a cluster Redis
    (``streaming.cluster``), in one process the control plane (``web``). What outlives the
    node's memory (DESIGN.md: the media plane is soft state) is kept there: who was taken out,
    which classes ended, which join tokens were spent."""

    def refuses_joins(self) -> bool:
        """True while the node cannot keep what new joins would record (its event buffer is
        nearly full): people already in the class stay, nobody new comes in."""
        ...

    async def hosts(self, class_id: int) -> bool:
        """Whether the class is (still) placed on this node."""
        ...

    async def barred(self, class_id: int) -> dict[int, str] | None:
        """Who was taken out of the class (by the control plane, or removed by the teacher),
        each with the code they are refused with; None when that cannot be asked."""
        ...

    async def keep_out(self, class_id: int, user_id: int, code: str, message: str) -> None:
        """Keep out one the teacher removed, until the teacher lets them back (the control
        plane's ``readmit``)."""
        ...

    async def closed(self, class_id: int) -> tuple[str, str] | None:
        """Why nobody may join the class any more, as a code with the timetable's reason:
        "class_ended" (also in an earlier run of the node: it never starts again),
        "class_cancelled" (with why, as the class page says it) or "not_online" (held in
        person: no online session); None while it may run."""
        ...

    async def spend(self, token_id: str, until: float) -> bool:
        """Mark a join token used until it expires (``until``, epoch seconds); False if it was
        used already."""
        ...

    async def unspend(self, token_id: str) -> None:
        """Give a join token back (it admitted nobody: a guest came before the teacher)."""
        ...


BACKLOG_MESSAGE = (
    "The class server cannot pass attendance on right now and takes nobody new until it can;"
    " try again in a few minutes"
)
MOVED_MESSAGE = "The class has moved to another server"
ENDED_MESSAGE = "The class has ended"
REVOKED_MESSAGE = "You may no longer join this class"
CANCELLED_MESSAGE = "This class has been cancelled"
NOT_ONLINE_MESSAGE = "This class is held in person, not online"
CLOSED_MESSAGES = {
    "class_ended": ENDED_MESSAGE,
    "class_cancelled": CANCELLED_MESSAGE,
    "not_online": NOT_ONLINE_MESSAGE,
}


class Refusal(NamedTuple):
    """Why a node does not let someone in: a code, a message, and for a cancelled class the
    timetable's reason (the class page shows it to whoever may open the page: anyone with a
    join token for the class)."""

    code: str
    message: str
    reason: str = ""


class MediaNode:
    def __init__(
        self,
        settings: MediaSettings,
        signer: TokenSigner,
        sink: EventSink,
        media: MediaBackend,
        gate: ClassGate | None = None,
        spool: Spool | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.signer = signer
        self.outbox = EventOutbox(sink, settings.node_id, clock=settings.clock, spool=spool)
        self._sink = sink
        self._beating: asyncio.Task[None] | None = None
        self.media = media
        self.rooms: dict[int, Room] = {}
        self._barred: dict[int, set[int]] = {}  # class → people taken out by the control plane
        self._bar_codes: dict[int, dict[int, str]] = {}  # class → person taken out → why (code)
        # Removed by the teacher, their bar not yet written through the gate: kept out whatever
        # the gate says meanwhile (a join right after the removal reads the gate before it).
        self._removing: dict[int, set[int]] = {}
        self._spent: dict[str, float] = {}  # join tokens used here → until when they are valid
        self._closing = False
        # From a join (or rejoin) message to its welcome, for /metrics.
        self.join_latency = Histogram(JOIN_BUCKETS)
        # The classes this node relays from their origins (``cascade``): their viewers' sockets
        # are piped to the origin's room.
        self.relays: dict[int, RelayPipe] = {}
        self.links = LinkTally()  # what crosses the links to other nodes, for /metrics

    def room(self, class_id: int, mode: RoomMode | None = None) -> Room:
        """The class's room, made on its first join; ``mode`` (a join token's, from the class's
        kind) is the mode it starts in, if none was settled yet."""
        room = self.rooms.get(class_id)
        if room is None:
            room = Room(
                class_id,
                self.outbox,
                self.media,
                self.settings.reconnect_grace,
                self._barred.setdefault(class_id, set()),
                keep_out=lambda user_id: self.keep_out(class_id, user_id),
                barring=lambda user_id: self._mark_removed(class_id, user_id),
                mode=mode,
                speaker_hold=self.settings.active_speaker_hold,
            )
            self.rooms[class_id] = room
        elif mode is not None:
            room.settle_mode(mode)
        return room

    async def relay_of(self, class_id: int) -> RelayPipe | None:
        """The link to the class's origin if this node relays the class (the gate, asked
        unless the class is live here, opens it when placement says this node relays it, and
        drops it when the class was placed on this node since)."""
        relayed_or_new = class_id in self.relays or class_id not in self.rooms
        if relayed_or_new and self.gate is not None:
            await self.gate.hosts(class_id)
        return self.relays.get(class_id)

    @property
    def accepting(self) -> bool:
        return not self._closing

    async def refusal(self, class_id: int, new: bool, user_id: int | None = None) -> Refusal | None:
        """Why this node would not let someone into the class now, or None. ``new`` is a join
        (not a participant coming back after a drop). The people the control plane took out
        are brought up to date on the way."""
        room = self.rooms.get(class_id)
        if room is not None and room.ended:
            return Refusal("class_ended", ENDED_MESSAGE)
        if self.gate is None:
            return None
        if new and self.gate.refuses_joins():
            return Refusal("events_backlog", BACKLOG_MESSAGE)
        closed = await self.gate.closed(class_id)
        if closed is not None:
            code, reason = closed
            message = CLOSED_MESSAGES.get(code, ENDED_MESSAGE)
            return Refusal(code, f"{message}: {reason}" if reason else message, reason)
        if not await self.gate.hosts(class_id):
            return Refusal("moved", MOVED_MESSAGE)
        barred = await self.gate.barred(class_id)
        if barred is not None:
            known = self._barred.setdefault(class_id, set())  # the room holds this very set
            removing = self._removing.get(class_id, set())
            known.clear()
            known.update(barred, removing)
            self._bar_codes[class_id] = dict(barred) | dict.fromkeys(removing, "removed")
        if user_id is not None and user_id in self._barred.get(class_id, ()):
            return Refusal(*self.barred_refusal(class_id, user_id))
        return None

    def barred_refusal(self, class_id: int, user_id: int) -> tuple[str, str]:
        """How one taken out of the class is refused: one the teacher removed is told so."""
        if self._bar_codes.get(class_id, {}).get(user_id) == "removed":
            return "removed", REMOVED_MESSAGE
        return "revoked", REVOKED_MESSAGE

    async def spend(self, token_id: str, until: float) -> bool:
        """Admit with a join token once: False if it was used already (here, or — as the gate
        keeps — on another node or before a restart). ``until`` is by the node's clock."""
        now = self.settings.clock()
        if self._spent.get(token_id, 0.0) >= now:
            return False
        self._spent = {t: u for t, u in self._spent.items() if u >= now}
        self._spent[token_id] = until  # before the await: a second socket is refused at once
        return self.gate is None or await self.gate.spend(token_id, until)

    async def unspend(self, token_id: str) -> None:
        self._spent.pop(token_id, None)
        if self.gate is not None:
            await self.gate.unspend(token_id)

    async def let_go(self, class_id: int) -> bool:
        """The class was placed on another node (this one was taken for dead): disconnect its
        participants, who reconnect where it is now. Returns whether there was a room."""
        room = self.rooms.pop(class_id, None)
        if room is None:
            return False
        if room.state is not RoomState.ENDED:
            await room.shutdown()
        return True

    def rename(self, node_id: str) -> None:
        """Go on as another node (after letting go of every class)."""
        self.settings = dataclasses.replace(self.settings, node_id=node_id)
        self.outbox.renamed(node_id)

    @property
    def relayed_viewers(self) -> int:
        """The viewers whose sockets this node, as a relay, pipes to their classes' origins."""
        return sum(relay.viewers for relay in self.relays.values())

    @property
    def participants(self) -> int:
        """The people whose media this node serves: its load (a relay's viewer piped here is
        in the room, its peer connections on the relay, counted there)."""
        here = sum(
            sum(1 for p in r.participants.values() if p.backend is None)
            for r in self.rooms.values()
            if not r.ended
        )
        return here + self.relayed_viewers

    async def start(self) -> None:
        self.outbox.start()
        if self._beating is None:
            self._beating = asyncio.create_task(self._beat(), name="sabaq-node-heartbeat")

    async def _beat(self) -> None:
        while True:
            try:
                await self._sink.heartbeat(self.settings.node_id, self.settings.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the node's heartbeat could not be delivered")
            await asyncio.sleep(self.settings.node_heartbeat)

    async def disconnect_all(self) -> None:
        """Refuse new joins and disconnect everyone (recorded as disconnected, not as left)."""
        self._closing = True
        for room in list(self.rooms.values()):
            if room.state is not RoomState.ENDED:
                await room.shutdown()

    async def close(self) -> None:
        """Disconnect everyone, deliver the events that records, stop."""
        await self.disconnect_all()
        await self.outbox.stop()
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None

    # -- commands from the control plane ------------------------------------------------------
    async def end_class(self, class_id: int, reason: str = "ended_by_staff") -> bool:
        room = self.rooms.get(class_id)
        if room is None or room.state is RoomState.ENDED:
            return False
        await room.end(None, reason)
        return True

    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        """Take a person out of a class (a guest whose approval was revoked)."""
        self._barred.setdefault(class_id, set()).add(user_id)  # also before the room exists
        codes = self._bar_codes.setdefault(class_id, {})
        if codes.get(user_id) != "removed":  # the teacher's removal is what they are told
            codes[user_id] = code
        room = self.rooms.get(class_id)
        if room is None or room.state is RoomState.ENDED:
            return False
        return await room.remove_user(user_id, code, message)

    def readmit(self, class_id: int, user_id: int) -> None:
        """Let a person taken out by the control plane come back (a learner admitted again);
        one the teacher removed stays out."""
        self._lift(class_id, user_id, removal=False)

    def let_back(self, class_id: int, user_id: int) -> None:
        """The teacher lets one they removed back. Whether the control plane keeps them out
        as well, the gate says at their next join (``refusal`` asks it first)."""
        self._lift(class_id, user_id, removal=True)

    def _lift(self, class_id: int, user_id: int, removal: bool) -> None:
        codes = self._bar_codes.get(class_id, {})
        if (codes.get(user_id) == "removed") is not removal:
            return
        self._barred.get(class_id, set()).discard(user_id)
        codes.pop(user_id, None)
        self._removing.get(class_id, set()).discard(user_id)

    def _mark_removed(self, class_id: int, user_id: int) -> None:
        self._barred.setdefault(class_id, set()).add(user_id)
        self._bar_codes.setdefault(class_id, {})[user_id] = "removed"
        self._removing.setdefault(class_id, set()).add(user_id)

    async def keep_out(self, class_id: int, user_id: int) -> None:
        """The teacher removed the person: kept out of the class here and, through the gate,
        across new join tokens, other nodes and restarts, until the teacher lets them back."""
        self._mark_removed(class_id, user_id)
        try:
            if self.gate is not None:
                await self.gate.keep_out(class_id, user_id, "removed", REMOVED_MESSAGE)
        finally:
            removing = self._removing.get(class_id, set())
            removing.discard(user_id)
            if not removing:
                self._removing.pop(class_id, None)

    def present_user_ids(self, class_id: int) -> set[int]:
        room = self.rooms.get(class_id)
        return {p.user_id for p in room.participants.values()} if room else set()
