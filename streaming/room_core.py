"""What every part of a room stands on: its state, who is in it, and how it tells them.

The room's concerns are mixins over this core, one module each, in the order they build on one
another: ``recording_control`` (the recording), ``room_media`` (publishing and watching),
``membership`` (joining and leaving), ``classroom`` (the floor, the chat, removals),
``seminar_room`` (the mode, views, the active speaker, quality hints), ``questions_room``
(quick questions), ``breakout_room`` (breakout groups) and ``room`` (the class as a whole: its
end). Free of aiohttp and aiortc.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from access.events import EventKind
from access.models import PUBLISHERS, ClassRole, RoomMode

from .events import EventOutbox, MediaEvent, NotRecorded
from .limits import CHAT_HISTORY
from .media_ports import MediaBackend, RecordingMedia
from .participant import Participant
from .protocol import ProtocolError, server_message
from .seminar import SpeakerSelector

log = logging.getLogger("sabaq.streaming.room")

ACTIVE_SPEAKER_HOLD = 1.5  # seconds a new speaker must be the loudest before the stage moves


class InvalidStateError(Exception):
    pass


class Barred(Exception):
    """The control plane took this person out of the class (a revoked guest): not again."""


class WaitingForTeacher(Exception):
    """A guest came before the teacher started the class: they wait in the lobby."""


class ReconnectExpired(Exception):
    """A reconnect for a participant this room no longer waits for."""


class RoomState(enum.StrEnum):
    WAITING = "waiting"  # nobody has started it yet
    LIVE = "live"
    ENDED = "ended"


class RoomCore(abc.ABC):
    """One live class on this node: its state and the helpers its concerns share."""

    def __init__(
        self,
        class_id: int,
        outbox: EventOutbox,
        media: MediaBackend,
        reconnect_grace: float = 60.0,
        barred: set[int] | None = None,
        keep_out: Callable[[int], Awaitable[None]] | None = None,
        barring: Callable[[int], None] | None = None,
        mode: RoomMode | None = None,
        speaker_hold: float = ACTIVE_SPEAKER_HOLD,
    ) -> None:
        self.class_id = class_id
        # Lecture (the floor) or seminar (learners publish themselves): from the class's kind,
        # as the first join token said (None: not said yet, a lecture), or as the teacher chose.
        self.mode = mode or RoomMode.LECTURE
        self._mode_settled = mode is not None
        self.was_seminar = self.mode is RoomMode.SEMINAR
        self.speakers = SpeakerSelector(speaker_hold)
        # While breakout groups are open, each group has its own active speaker (the main
        # room's is ``speakers``).
        self.group_speakers: dict[int, SpeakerSelector] = {}
        self._speaker_watch = False
        # People the control plane took out (revoked guests): refused on join and rejoin.
        self.barred: set[int] = barred if barred is not None else set()
        # Keeps one the teacher removed out where the node's memory does not reach (the gate).
        self._keep_out = keep_out
        # Told at once (no await) that the teacher bars someone, so that the node's view of who
        # is out, refreshed from the gate at each join, keeps them while ``keep_out`` writes.
        self._barring = barring
        self.state = RoomState.WAITING
        self._outbox = outbox
        self._media = media
        self.participants: dict[str, Participant] = {}
        # On a relay node (``cascade``): the origin node's publishers, as their publications
        # reach this node. Sources, not members: not in the roster, no attendance of theirs.
        self.mirrored: dict[str, Participant] = {}
        # Told (at once, no await) after each roster told: what is published may have changed
        # (``cascade``'s feed to a relay node follows it).
        self.watchers: list[Callable[[], None]] = []
        # The chat so far, each message with who may read it: everyone (None), or the users of
        # a private word between a participant and the teacher.
        self.chat: deque[tuple[dict[str, Any], frozenset[int] | None]] = deque(maxlen=CHAT_HISTORY)
        self._hand_tickets = itertools.count(1)  # raised hands are numbered: the queue's order
        # Whose hand is raised → its number, by person: a rejoin or a second tab within the
        # grace (a new Participant) finds its place in the queue again.
        self._hands: dict[int, int] = {}
        self._grace = reconnect_grace
        # A dropped participant → (their user, until when they may come back as themselves).
        self._gone: dict[str, tuple[int, float]] = {}
        # Participants (present, or dropped and awaited back) who chose low bandwidth: a rejoin
        # of the same participant keeps the choice.
        self._low_bandwidth: set[str] = set()
        # Whose microphone or camera is off → (microphone on, camera on), by person: a rejoin or
        # a second tab within the grace comes back as muted as it was (a teacher's mute holds).
        self._media_states: dict[int, tuple[bool, bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # One admission at a time per person: two sockets of one person opened together would
        # otherwise both take over the same older tab and both stay (the newest one wins).
        self._admitting: dict[int, tuple[asyncio.Lock, int]] = {}  # user → lock, its users
        self._ending: asyncio.Future[None] | None = None
        self.recording: RecordingMedia | None = None
        # The publications the recording's files were cut from (``recording_control``).
        self._recorded_set: list[tuple[str, object]] = []
        # What the others are told, which follows the record: one who left is in the roster until
        # their departure is durable, and the recording is said to run once its start is.
        self._departing: dict[str, Participant] = {}
        self._told_recording = False
        self._starting_recording = False

    @property
    def host(self) -> Participant | None:
        for p in self.participants.values():
            if p.role is ClassRole.HOST:
                return p
        return None

    @property
    def source(self) -> Participant | None:
        """The teacher, while publishing: whose picture everyone watches."""
        host = self.host
        return host if host is not None and host.publisher is not None else None

    def sources(self) -> list[tuple[Participant, str]]:
        """Every publication: the teacher's (camera, screen) and whoever has the floor."""
        members = [*self.participants.values(), *self.mirrored.values()]
        return [(p, name) for p in members for name in p.publications]

    def _present(self, p: Participant) -> bool:
        """Whether ``p`` is (still) in the room: a member, or a publisher mirrored here."""
        return self.participants.get(p.id) is p or self.mirrored.get(p.id) is p

    def speakers_of(self, group: int | None) -> SpeakerSelector:
        """The active speaker of a breakout group, or of the main room (None)."""
        if group is None:
            return self.speakers
        selector = self.group_speakers.get(group)
        if selector is None:
            selector = self.group_speakers[group] = SpeakerSelector(self.speakers.hold)
        return selector

    def mode_for(self, p: Participant) -> RoomMode:
        """The mode a participant is in: a breakout group is a seminar, whatever the class's."""
        return RoomMode.SEMINAR if p.group is not None else self.mode

    def _chat_readers(self, p: Participant) -> frozenset[int] | None:
        """Who reads a public chat message of this participant: everyone (None), unless breakout
        groups are open (``breakout_room``)."""
        return None

    @property
    def ended(self) -> bool:
        return self.state is RoomState.ENDED

    def hand_queue(self) -> list[Participant]:
        """The raised hands present, first raised first."""
        raised = [p for p in self.participants.values() if p.hand_raised]
        return sorted(raised, key=lambda p: p.hand_ticket)

    def roster(self) -> list[dict[str, Any]]:
        """Who is in the class as the record has it: one whose departure is not durable yet is
        still shown. A raised hand carries its place in the queue (1 is next)."""
        departing = [p for pid, p in self._departing.items() if pid not in self.participants]
        place = {p.id: n for n, p in enumerate(self.hand_queue(), 1)}
        return [
            {**p.public(), "hand_position": place.get(p.id)}
            for p in [*self.participants.values(), *departing]
        ]

    def chat_for(self, user_id: int) -> list[dict[str, Any]]:
        """The chat so far as this person may read it: everyone's, and their own private words."""
        return [m for m, users in self.chat if users is None or user_id in users]

    async def _recorded(self, event: MediaEvent) -> bool:
        """Wait until ``event`` is durable, so that it may be told; False if it is not within
        the outbox's bound (it stays pending) or was set aside."""
        try:
            await self._outbox.durable(event)
        except NotRecorded as exc:
            log.warning("class %s: told before it is in the register: %s", self.class_id, exc)
            return False
        return True

    def _emit_by(
        self, kind: EventKind, p: Participant, data: dict[str, Any] | None = None
    ) -> MediaEvent:
        """Report an event of this class about (or by) a participant."""
        return self._outbox.emit(
            kind,
            self.class_id,
            user_id=p.user_id,
            participant_id=p.id,
            role=p.role.value,
            data=data or {},
        )

    def _require_presenter(self, pid: str, message: str) -> Participant:
        """The participant, if the teacher or a presenting guest; else refused with ``message``."""
        p = self._get(pid)
        if p.role not in PUBLISHERS:
            raise ProtocolError("not_allowed", message)
        return p

    def _require_host(self, pid: str) -> Participant:
        p = self._get(pid)
        if p.role is not ClassRole.HOST:
            raise ProtocolError("not_allowed", "Only the teacher does that")
        return p

    @abc.abstractmethod
    async def leave(
        self,
        pid: str,
        kind: EventKind = EventKind.LEFT,
        reason: str = "",
        *,
        told: tuple[str, str] | None = None,
        wait: bool = True,
    ) -> bool:
        """The participant is gone (``membership``)."""

    @abc.abstractmethod
    def _watch_speakers(self) -> None:
        """Follow who speaks while anyone publishes sound (``seminar_room``)."""

    @abc.abstractmethod
    async def _state_told(self) -> None:
        """What follows each roster told (``seminar_room``: the publishers' quality hints)."""

    # -- helpers ------------------------------------------------------------------------------
    def _get(self, pid: str) -> Participant:
        p = self.participants.get(pid)
        if p is None:
            raise ProtocolError("not_joined", "Join the class first")
        return p

    async def _broadcast_state(self) -> None:
        source = self.source
        await self._broadcast(
            server_message(
                "roster",
                state=self.state.value,
                publisher=source.name if source else None,
                recording=self._told_recording,
                participants=self.roster(),
                hands=[p.id for p in self.hand_queue()],
            )
        )
        for watcher in list(self.watchers):
            watcher()
        await self._state_told()

    async def _broadcast(self, text: str) -> None:
        """One message to everyone, serialized once (a class may have 200 participants)."""
        for p in list(self.participants.values()):
            await p.deliver(text)

    def _spawn(self, coro: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room %s: background media task failed", self.class_id)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if isinstance(coro, Coroutine):
            # Cancelled before it ran (the room shut down at once): closed, not left unawaited.
            task.add_done_callback(lambda _: coro.close())

    def _start_timer(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """A timer of the room (a question's limit, the groups' time): cancelled with the room's
        other tasks, its failure logged naming ``what``."""
        timer = asyncio.ensure_future(coro)
        self._tasks.add(timer)
        timer.add_done_callback(self._tasks.discard)

        def done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("class %s: %s failed", self.class_id, what, exc_info=task.exception())

        timer.add_done_callback(done)
        return timer

    async def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
