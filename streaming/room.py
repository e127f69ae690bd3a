"""Rooms and participants: who is in a live class, who publishes, who watches.

Free of aiohttp and aiortc: the WebSocket is reached through the participant's ``send`` and
``close`` callables, media through the ``MediaBackend`` port that ``aiortc_media`` implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from access.events import EventKind
from access.models import GUESTS, PUBLISHERS, ClassRole

from .events import EventOutbox, MediaEvent, NotRecorded
from .protocol import ProtocolError, server_message

log = logging.getLogger("sabaq.streaming.room")

# WebSocket close codes the browser acts on.
CLOSE_CLASS_ENDED = 4000  # the class is over: do not reconnect
CLOSE_OPENED_ELSEWHERE = 4001  # a newer tab took over: do not reconnect
CLOSE_REMOVED = 4003  # removed by the teacher: do not reconnect
CLOSE_PROTOCOL = 4400  # the client broke the protocol
CLOSE_UNAUTHORIZED = 4401  # no valid token
CLOSE_SERVER_STOPPING = 4503  # the node is shutting down: reconnect later
CLOSE_TOO_SLOW = 4504  # the client did not read its messages: reconnect
CLOSE_MEDIA_FAILED = 4505  # a peer connection failed: reconnect

SEND_TIMEOUT = 5.0


CHAT_HISTORY = 200  # messages a late joiner is shown
CHAT_BURST, CHAT_BURST_SECONDS = 5, 5.0  # at most 5 messages in 5 s per participant

# What each participant may send, per kind of message: (burst, messages a second), a token
# bucket. Sized so that a page used as meant never meets it (the chat has its own, tighter
# rule); a flood beyond it is dropped, and its sender is warned once per flood. Raising and
# lowering the hand share one bucket, as do starting and stopping a recording; leaving and
# ending the class are not limited (they end the connection).
MESSAGE_RATES: Mapping[str, tuple[float, float]] = {
    "ping": (10, 2),
    "publish": (10, 1),
    "unpublish": (10, 1),
    "answer": (60, 20),
    "chat": (20, 2),
    "hand": (10, 1),
    "floor": (30, 5),
    "remove": (30, 5),
    "recording": (10, 1),
    "low_bandwidth": (10, 1),
}
RATE_BUCKET_OF: Mapping[str, str] = {
    "raise_hand": "hand",
    "lower_hand": "hand",
    "grant_floor": "floor",
    "revoke_floor": "floor",
    "start_recording": "recording",
    "stop_recording": "recording",
}


@dataclass(slots=True)
class TokenBucket:
    burst: float
    rate: float  # tokens a second
    tokens: float
    at: float

    def refill(self, now: float) -> bool:
        """Add what accrued since the last look; True if the bucket is full."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens >= self.burst

    def take(self) -> bool:
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class InvalidStateError(Exception):
    pass


class Barred(Exception):
    """The control plane took this person out of the class (a revoked guest): not again."""


class WaitingForTeacher(Exception):
    """A guest came before the teacher started the class: they wait in the lobby."""


class ReconnectExpired(Exception):
    """A reconnect for a participant this room no longer waits for."""


class PublisherMedia(Protocol):
    async def accept_offer(self, sdp: str) -> str: ...
    async def close(self) -> None: ...
    @property
    def track_kinds(self) -> tuple[str, ...]: ...


class ViewerMedia(Protocol):
    async def make_offer(self) -> str: ...
    async def accept_answer(self, sdp: str) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class HoldsTracks(Protocol):
    """A viewer's media that can hold back some of its source's tracks without renegotiating:
    ``held`` has one flag per track, in the order of the publication's labels; a held track's
    frames are not sent, a released one starts again from a keyframe. Viewers of a backend
    without it (the stock-relay benchmark baseline) are sent everything."""

    def hold_tracks(self, held: Sequence[bool]) -> None: ...


class RecordingMedia(Protocol):
    # A microphone in the class's sound (a student with the floor), or out of it (None).
    def set_voice(self, key: str, media: PublisherMedia | None) -> None: ...
    async def stop(self) -> list[str]: ...


class MediaBackend(Protocol):
    # ``on_failed`` is called once if the peer connection fails (ICE, or a DTLS handshake that
    # does not verify, as with a tampered fingerprint).
    def new_publisher(self, on_failed: Callable[[], None]) -> PublisherMedia: ...
    def new_viewer(self, source: PublisherMedia, on_failed: Callable[[], None]) -> ViewerMedia: ...
    # One file per video track of the publications, each with the microphone's sound.
    def new_recording(
        self, class_id: int, publications: Mapping[str, tuple[PublisherMedia, tuple[str, ...]]]
    ) -> RecordingMedia: ...


MEDIA_CLOSE_TIMEOUT = 5.0


async def _close_quietly(media: PublisherMedia | ViewerMedia) -> None:
    """Close a peer connection; one that will not close in time is logged and left behind."""
    try:
        async with asyncio.timeout(MEDIA_CLOSE_TIMEOUT):
            await media.close()
    except TimeoutError:
        log.warning("a peer connection did not close within %.0f s", MEDIA_CLOSE_TIMEOUT)
    except Exception:
        log.exception("closing a peer connection failed")


class Floor(enum.StrEnum):
    """What a learner given the floor may send."""

    AUDIO = "audio"
    AUDIO_VIDEO = "audio_video"


class RoomState(enum.StrEnum):
    WAITING = "waiting"  # nobody has started it yet
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Publication:
    media: PublisherMedia
    tracks: tuple[str, ...]  # labels of its media sections, in order


Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[object]]


@dataclass(eq=False, slots=True)
class Participant:
    id: str
    user_id: int
    role: ClassRole
    name: str
    send_text: Send
    close_ws: Close
    # What this participant publishes: "main" (camera, microphone) and, for the teacher,
    # "screen" — each its own peer connection and its own source for the viewers.
    publications: dict[str, Publication] = field(default_factory=dict)
    # What this participant watches: one peer connection per source (teacher, floor holder).
    views: dict[str, ViewerMedia] = field(default_factory=dict)
    offer_id: int = 0  # offers are numbered; an answer names the offer it answers
    pending: dict[int, str] = field(default_factory=dict)  # offer id → source awaiting answer
    hand_raised: bool = False
    # A viewer on a weak network: sent sound and screen, no camera video (the choice is theirs).
    low_bandwidth: bool = False
    floor: Floor | None = None  # what a learner was given the floor with
    had_floor: bool = False
    closed: bool = False
    subscribing: asyncio.Lock = field(default_factory=asyncio.Lock)
    chat_times: deque[float] = field(default_factory=lambda: deque(maxlen=CHAT_BURST))
    buckets: dict[str, TokenBucket] = field(default_factory=dict)  # MESSAGE_RATES' buckets
    flooding: set[str] = field(default_factory=set)  # buckets whose flood was warned of
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _abort: asyncio.Future[object] | None = None

    @property
    def publisher(self) -> PublisherMedia | None:
        main = self.publications.get("main")
        return main.media if main else None

    def source_id(self, publication: str) -> str:
        return self.id if publication == "main" else f"{self.id}/{publication}"

    async def send(self, kind: str, **fields: Any) -> None:
        await self.deliver(server_message(kind, **fields))

    async def deliver(self, text: str, *, last: bool = False) -> None:
        """Send a serialized message; a client that does not take it within a few seconds is
        dropped, so one stalled connection never holds up what the room tells everyone else.
        ``last``: the one message still sent to a participant the room let go (why they are
        out)."""
        if self.closed and not last:
            return
        async with self._send_lock:
            if self.closed and not last:  # dropped while this send waited its turn
                return
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.send_text(text)
            except (ConnectionError, RuntimeError) as exc:
                log.info("send to %s failed: %s", self.id, exc)
            except TimeoutError:
                log.warning("participant %s does not read its messages; disconnecting", self.id)
                self.closed = True
                self._abort = asyncio.ensure_future(self.close_ws(CLOSE_TOO_SLOW, "too slow"))

    async def allowed(self, kind: str) -> bool:
        """Whether a message of this kind from the participant is within its rate; one beyond
        is to be dropped, and the first dropped of a flood is answered with a warning."""
        name = RATE_BUCKET_OF.get(kind, kind)
        rate = MESSAGE_RATES.get(name)
        if rate is None:
            return True
        now = time.monotonic()
        bucket = self.buckets.get(name)
        if bucket is None:
            bucket = self.buckets[name] = TokenBucket(rate[0], rate[1], rate[0], now)
        if bucket.refill(now):
            self.flooding.discard(name)  # quiet long enough: a new flood is warned of again
        if bucket.take():
            return True
        if name not in self.flooding:
            self.flooding.add(name)
            log.info("participant %s floods %r messages; the excess is dropped", self.id, kind)
            await self.send(
                "error", code="too_fast", message="Too many messages: some were ignored"
            )
        return False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role.value,
            "publishing": self.publisher is not None,
            "sharing_screen": "screen" in self.publications,
            "hand_raised": self.hand_raised,
            "floor": self.floor.value if self.floor else None,
        }


def _hold_camera(viewer: Participant, publication: Publication, view: ViewerMedia) -> None:
    """Camera tracks are held back from a viewer who chose low bandwidth; sound and screen
    are not."""
    if isinstance(view, HoldsTracks):
        view.hold_tracks([viewer.low_bandwidth and t == "camera" for t in publication.tracks])


class Room:
    """One live class on this node."""

    def __init__(
        self,
        class_id: int,
        outbox: EventOutbox,
        media: MediaBackend,
        reconnect_grace: float = 60.0,
        barred: set[int] | None = None,
    ) -> None:
        self.class_id = class_id
        # People the control plane took out (revoked guests): refused on join and rejoin.
        self.barred: set[int] = barred if barred is not None else set()
        self.state = RoomState.WAITING
        self._outbox = outbox
        self._media = media
        self.participants: dict[str, Participant] = {}
        self.chat: deque[dict[str, Any]] = deque(maxlen=CHAT_HISTORY)
        self._grace = reconnect_grace
        # A dropped participant → (their user, until when they may come back as themselves).
        self._gone: dict[str, tuple[int, float]] = {}
        # Participants (present, or dropped and awaited back) who chose low bandwidth: a rejoin
        # of the same participant keeps the choice.
        self._low_bandwidth: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # One admission at a time per person: two sockets of one person opened together would
        # otherwise both take over the same older tab and both stay (the newest one wins).
        self._admitting: dict[int, tuple[asyncio.Lock, int]] = {}  # user → lock, its users
        self._ending: asyncio.Future[None] | None = None
        self.recording: RecordingMedia | None = None
        # What the others are told, which follows the record: one who left is in the roster until
        # their departure is durable, and the recording is said to run once its start is.
        self._departing: dict[str, Participant] = {}
        self._told_recording = False
        self._starting_recording = False

    # -- membership ---------------------------------------------------------------------------
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
        return [(p, name) for p in self.participants.values() for name in p.publications]

    @property
    def ended(self) -> bool:
        return self.state is RoomState.ENDED

    def roster(self) -> list[dict[str, Any]]:
        """Who is in the class as the record has it: one whose departure is not durable yet is
        still shown."""
        departing = [p for pid, p in self._departing.items() if pid not in self.participants]
        return [p.public() for p in [*self.participants.values(), *departing]]

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
            chat=list(self.chat),
            low_bandwidth=p.low_bandwidth,
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
            if kind is EventKind.DISCONNECTED:
                self._gone[p.id] = (p.user_id, time.monotonic() + self._grace)
            else:
                self._low_bandwidth.discard(p.id)
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

    async def _recorded(self, event: MediaEvent) -> bool:
        """Wait until ``event`` is durable, so that it may be told; False if it is not within
        the outbox's bound (it stays pending) or was set aside."""
        try:
            await self._outbox.durable(event)
        except NotRecorded as exc:
            log.warning("class %s: told before it is in the register: %s", self.class_id, exc)
            return False
        return True

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

    async def _close_media(self, p: Participant) -> None:
        media: list[PublisherMedia | ViewerMedia] = [pub.media for pub in p.publications.values()]
        media.extend(p.views.values())
        p.publications.clear()
        p.views.clear()
        p.pending.clear()
        for m in media:
            await _close_quietly(m)

    async def _stop_watching(self, source_id: str) -> None:
        """Nobody watches this source any more (it left, or stopped publishing)."""
        for q in list(self.participants.values()):
            view = q.views.pop(source_id, None)
            q.pending = {o: s for o, s in q.pending.items() if s != source_id}
            if view is not None:
                await q.send("source_ended", source=source_id)
                await _close_quietly(view)

    # -- media --------------------------------------------------------------------------------
    async def publish(self, pid: str, sdp: str, tracks: tuple[str, ...] = ()) -> None:
        """The teacher publishes camera and microphone, or the screen (``tracks`` is then
        exactly ``("screen",)``: a publication of its own); a learner with the floor publishes
        what the floor allows. Everyone else is offered the new media.

        ``tracks`` labels the offer's media sections in order, so that viewers can tell them
        apart."""
        p = self._get(pid)
        name = "screen" if tracks == ("screen",) else "main"
        if "screen" in tracks and (name != "screen" or p.role not in PUBLISHERS):
            raise ProtocolError("not_allowed", "Only the teacher shares a screen, on its own")
        if p.role not in PUBLISHERS and p.floor is None:
            if p.had_floor:
                # The floor was taken back before this offer arrived: not an offence.
                await p.send("floor_revoked")
                return
            raise ProtocolError(
                "not_allowed", "Only the teacher, or whoever has the floor, publishes"
            )
        if self.state is not RoomState.LIVE:
            raise ProtocolError("bad_state", f'The class is "{self.state}", not live')
        await self.unpublish(pid, name)
        pub = self._media.new_publisher(lambda: self._spawn(self._media_failed(p)))
        try:
            answer = await pub.accept_offer(sdp)
        except Exception as exc:
            await _close_quietly(pub)
            raise ProtocolError("bad_sdp", f"The offer was refused: {exc}") from exc
        kinds = pub.track_kinds
        if sorted(kinds) not in (["audio"], ["video"], ["audio", "video"]) or (
            name == "screen" and kinds != ("video",)
        ):
            await _close_quietly(pub)
            raise ProtocolError(
                "bad_sdp", "Publish one microphone and one camera (or one screen), no more"
            )
        if p.role not in PUBLISHERS and "video" in kinds and p.floor is not Floor.AUDIO_VIDEO:
            await _close_quietly(pub)
            await p.send("error", code="camera_not_allowed", message="The floor is for sound only")
            return
        if self.participants.get(pid) is not p or (p.role not in PUBLISHERS and not p.floor):
            await _close_quietly(pub)  # left, or lost the floor, while we negotiated
            return
        expected = tuple("microphone" if k == "audio" else "camera" for k in kinds)
        if name == "screen":
            expected = ("screen",) * len(kinds)
        if (
            (tracks and len(tracks) != len(kinds))
            or (
                name == "main"
                and tracks
                and any(
                    (t == "microphone") != (k == "audio")
                    for t, k in zip(tracks, kinds, strict=True)
                )
            )
            or (name == "screen" and kinds != ("video",))
        ):
            await _close_quietly(pub)
            raise ProtocolError("bad_message", "'tracks' does not match the offer's media")
        p.publications[name] = Publication(pub, tracks or expected)
        await p.send("answer", sdp=answer, publication=name)
        await self._rerecord(p)
        await self._broadcast_state()
        for q in list(self.participants.values()):
            if q is not p:
                self._spawn(self._subscribe(q, p, name))

    async def unpublish(self, pid: str, name: str) -> None:
        """Stop one publication (the teacher stops sharing the screen, say)."""
        p = self._get(pid)
        old = p.publications.pop(name, None)
        if old is not None:
            await self._stop_watching(p.source_id(name))
            await self._rerecord(p)
            await _close_quietly(old.media)
            await self._broadcast_state()

    async def _subscribe(self, viewer: Participant, source: Participant, name: str) -> None:
        """Offer one publication to a viewer; one offer at a time per viewer, and an offer
        overtaken by a newer publication of that source is dropped."""
        source_id = source.source_id(name)
        async with viewer.subscribing:
            publication = source.publications.get(name)
            if publication is None or viewer.closed or source.closed:
                return
            old = viewer.views.pop(source_id, None)
            if old is not None:
                await _close_quietly(old)
            media = self._media.new_viewer(
                publication.media, lambda: self._spawn(self._media_failed(viewer))
            )
            try:
                offer = await media.make_offer()
            except asyncio.CancelledError:
                await _close_quietly(media)  # the class ended meanwhile: nothing left open
                raise
            except Exception:
                log.exception("could not offer media to %s", viewer.id)
                await _close_quietly(media)
                return
            current = (
                self.participants.get(viewer.id) is viewer
                and self.participants.get(source.id) is source
                and source.publications.get(name) is publication
            )
            if viewer.closed or not current:
                await _close_quietly(media)
                return
            # Held back (low bandwidth) before the viewer's answer can start any sending, and
            # after the last await, so a choice made while this offer was prepared is honoured.
            _hold_camera(viewer, publication, media)
            viewer.views[source_id] = media
            viewer.offer_id += 1
            viewer.pending = {o: s for o, s in viewer.pending.items() if s != source_id}
            viewer.pending[viewer.offer_id] = source_id
            await viewer.send(
                "offer",
                sdp=offer,
                offer_id=viewer.offer_id,
                source=source_id,
                source_role=source.role.value,
                publisher=source.name,
                tracks=list(publication.tracks),
            )

    async def answer(self, pid: str, sdp: str, offer_id: int) -> None:
        p = self._get(pid)
        source_id = p.pending.pop(offer_id, None)
        view = p.views.get(source_id) if source_id else None
        if view is None:
            # An answer to an offer that a newer one replaced: harmless, ignored.
            log.info("participant %s: stale answer to offer %s", pid, offer_id)
            return
        try:
            await view.accept_answer(sdp)
        except Exception as exc:
            raise ProtocolError("bad_sdp", f"The answer was refused: {exc}") from exc

    async def _media_failed(self, p: Participant) -> None:
        """A peer connection of this participant failed: they are told and disconnected (their
        page reconnects if it can); everyone else goes on."""
        if self.participants.get(p.id) is not p:
            return
        await p.send("error", code="media_failed", message="The media connection failed")
        await self.leave(p.id, EventKind.DISCONNECTED, "media connection failed")
        await p.close_ws(CLOSE_MEDIA_FAILED, "media failed")

    async def set_low_bandwidth(self, pid: str, on: bool) -> None:
        """A viewer's low-bandwidth choice: while on, the camera video of every source (the
        teacher, a presenting guest, a student with the floor) is held back from them; sound and
        the shared screen still come. Off, the pictures come back from a keyframe. Nothing is
        renegotiated: the viewer's connections stay as they are."""
        p = self._get(pid)
        p.low_bandwidth = on
        if on:
            self._low_bandwidth.add(p.id)
        else:
            self._low_bandwidth.discard(p.id)
        for source, name in self.sources():
            view = p.views.get(source.source_id(name))
            if view is not None:
                _hold_camera(p, source.publications[name], view)
        await p.send("low_bandwidth", on=on)

    # -- recording ----------------------------------------------------------------------------
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

    # -- the floor ----------------------------------------------------------------------------
    async def raise_hand(self, pid: str, raised: bool) -> None:
        p = self._get(pid)
        if p.role is not ClassRole.LEARNER:
            raise ProtocolError("not_allowed", "Only students raise their hand")
        if p.hand_raised != raised:
            p.hand_raised = raised
            await self._broadcast_state()

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
        await target.send("floor_granted", camera=floor is Floor.AUDIO_VIDEO)
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

    def _require_host(self, pid: str) -> Participant:
        p = self._get(pid)
        if p.role is not ClassRole.HOST:
            raise ProtocolError("not_allowed", "Only the teacher does that")
        return p

    # -- chat and moderation -----------------------------------------------------------------
    async def say(self, pid: str, text: str) -> None:
        """A chat message to everyone in the class, kept for late joiners and in the record."""
        p = self._get(pid)
        now = time.time()
        if len(p.chat_times) == CHAT_BURST and now - p.chat_times[0] < CHAT_BURST_SECONDS:
            await p.send(
                "error", code="chat_too_fast", message="Wait a moment before the next message"
            )
            return
        p.chat_times.append(now)
        event = self._outbox.emit(
            EventKind.CHAT_MESSAGE,
            self.class_id,
            user_id=p.user_id,
            participant_id=p.id,
            role=p.role.value,
            data={"text": text},
        )
        message = {"id": event.id, "from": p.id, "name": p.name, "text": text, "at": now}
        with contextlib.suppress(NotRecorded):  # it stays pending; shown as said
            await self._outbox.durable(event)  # in the record before anyone is shown it
        self.chat.append(message)
        await self._broadcast(server_message("chat", **message))

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
        """The teacher removes a participant; they are told, and do not come back by themselves."""
        by = self._require_host(by_pid)
        target = self.participants.get(target_pid)
        if target is None or target is by:
            await by.send("error", code="no_such_participant", message="Nobody to remove")
            return
        # Out at once (safety first); told, as the others are, once the register has it.
        recorded = await self.leave(
            target.id,
            EventKind.REMOVED,
            f"removed by user {by.user_id}",
            told=("removed", "The teacher removed you from the class"),
        )
        await target.close_ws(CLOSE_REMOVED, "removed")
        if not recorded:
            await by.send(
                "error",
                code="removal_not_recorded",
                message="They were removed, but the register could not note it just now",
            )

    # -- the end ------------------------------------------------------------------------------
    async def end(self, pid: str | None = None, reason: str = "ended_by_teacher") -> None:
        """End the class: everyone is recorded as having left, told, and disconnected.

        The record comes first, without awaiting anything; the telling and closing run shielded
        in a task of the room, so the caller's connection closing (the teacher's own) cannot
        cut it short.
        """
        if pid is not None and self._get(pid).role is not ClassRole.HOST:
            raise ProtocolError("not_allowed", "Only the teacher ends the class")
        if self.state is RoomState.ENDED:
            return
        self.state = RoomState.ENDED
        members = sorted(self.participants.values(), key=lambda p: p.id == pid)  # caller last
        self.participants.clear()
        for p in members:
            self._outbox.emit(
                EventKind.LEFT,
                self.class_id,
                user_id=p.user_id,
                participant_id=p.id,
                role=p.role.value,
                data={"reason": "class_ended"},
            )
        ended = self._outbox.emit(EventKind.CLASS_ENDED, self.class_id, data={"reason": reason})

        async def tell_and_close() -> None:
            with contextlib.suppress(NotRecorded):  # it stays pending; the class is over anyway
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
        for p in list(self.participants.values()):
            await p.send("error", code="server_stopping", message="The server is restarting")
            await self.leave(p.id, EventKind.DISCONNECTED, "server_stopping", wait=False)
            await p.close_ws(CLOSE_SERVER_STOPPING, "server stopping")
        await self._cancel_tasks()

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
            )
        )

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

    async def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
