"""One person's connection to a room: what they publish and watch, and how they are sent to.

The WebSocket is reached through the ``send`` and ``close`` callables, so this knows no aiohttp.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from access.models import ClassRole

from .limits import CHAT_BURST, MESSAGE_RATES, RATE_BUCKET_OF, TokenBucket
from .media_ports import HoldsTracks, MediaBackend, PublisherMedia, ViewerMedia
from .protocol import server_message
from .seminar import Quality, ViewSelection

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

# What one the teacher removed is told, now and at each try to come back (the page says it in
# the person's language, by the code ``removed``).
REMOVED_MESSAGE = "The teacher removed you from this class; ask the teacher to let you back in"

SEND_TIMEOUT = 5.0


class Floor(enum.StrEnum):
    """What a learner given the floor may send."""

    AUDIO = "audio"
    AUDIO_VIDEO = "audio_video"


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
    # The media of one whose peer connections another node hosts (a relay's viewer, piped to
    # the class's origin: ``cascade_origin``); None: the room's own.
    backend: MediaBackend | None = None
    # What this participant publishes: "main" (camera, microphone) and, for the teacher,
    # "screen" — each its own peer connection and its own source for the viewers.
    publications: dict[str, Publication] = field(default_factory=dict)
    # What this participant watches: one peer connection per source (teacher, floor holder).
    views: dict[str, ViewerMedia] = field(default_factory=dict)
    offer_id: int = 0  # offers are numbered; an answer names the offer it answers
    pending: dict[int, str] = field(default_factory=dict)  # offer id → source awaiting answer
    hand_raised: bool = False
    hand_ticket: int = 0  # when the hand was raised, as the room numbers them: the queue's order
    # A viewer on a weak network: sent sound and screen, no camera video (the choice is theirs).
    low_bandwidth: bool = False
    # The sources whose camera video this viewer shows (gallery tiles, stage); None (a page
    # that never said, as a lecture's) shows everything.
    view: ViewSelection | None = None
    # What this publisher's camera was last asked to send (a new publication starts full).
    quality: Quality = "full"
    # Their own choice (``media_state``), or the teacher's mute: a microphone or camera that is
    # off is held back from every viewer, whatever the browser still sends.
    microphone_on: bool = True
    camera_on: bool = True
    floor: Floor | None = None  # what a learner was given the floor with
    # The breakout group this participant is in (index from 0), or None: the main room. Media
    # reach only those in the same one (``held_tracks``).
    group: int | None = None
    was_in_group: bool = False  # has been in a breakout group (a late screen offer is no offence)
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
            "microphone": self.microphone_on,
            "camera": self.camera_on,
            "group": self.group,
        }


def held_tracks(viewer: Participant, source: Participant, name: str) -> list[bool]:
    """Which tracks of a source's publication are held back from a viewer, in the
    publication's order: the camera while the viewer chose low bandwidth or does not show that
    source (its ``view``), and from everyone while its source turned the camera off; the
    microphone from everyone while it is off (its owner's choice, or the teacher's mute). Sound
    and the shared screen are not held by a viewer's choice. While breakout groups are open,
    everything of a source in another group (or in the main room, for one in a group) is held:
    no packet crosses groups.

    Every reason to hold a track back from a viewer is decided here, in one place."""
    publication = source.publications.get(name)
    if publication is None:
        return []
    if viewer.group != source.group:
        return [True] * len(publication.tracks)
    shown = viewer.view is None or viewer.view.shows(source.source_id(name))
    no_camera = viewer.low_bandwidth or not shown or not source.camera_on
    return [
        (t == "camera" and no_camera) or (t == "microphone" and not source.microphone_on)
        for t in publication.tracks
    ]


def apply_holds(viewer: Participant, source: Participant, name: str, view: ViewerMedia) -> None:
    """Hold back (or release, from a keyframe) what ``held_tracks`` says, without
    renegotiating."""
    if isinstance(view, HoldsTracks):
        view.hold_tracks(held_tracks(viewer, source, name))
