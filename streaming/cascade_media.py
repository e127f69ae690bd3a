"""What both ends of a cascade's link (``cascade``) carry media with: a frame's head on the
link, a track pumped onto it, and a track arriving from it as a hub of the node's own.

Frames go both ways: the origin's publications to each relay, and the publications of a relay's
viewers given the floor (``cascade_origin.RemotePublisher``) to the origin. Each end numbers
the feeds it sends; a keyframe request names a feed of the other end's numbering.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable

from aiortc.mediastreams import MediaStreamError

from .aiortc_forward import Hub
from .aiortc_media import AiortcPublisher
from .forward_hub import ForwardedTrack
from .media_ports import CountsForwarding
from .stats import ForwardTally, LinkTally

FRAME_HEAD = struct.Struct("!II")  # feed id, RTP timestamp
MAX_FRAME_BYTES = 4 * 1024 * 1024

Key = tuple[str, str]  # source (participant) id, publication name


def feed_doc(feed_id: int, hub: Hub) -> dict[str, object]:
    """How a feed is announced: what a hub at the other end needs to be made."""
    return {"id": feed_id, "kind": hub.kind, "mime": hub.mime, "rate": hub.time_base.denominator}


Send = Callable[[bytes], Awaitable[None]]


async def pump(feed_id: int, track: ForwardedTrack, send: Send, tally: LinkTally) -> None:
    """A track's frames onto the link, counted in ``tally``. While the link cannot take them,
    they wait in the track's bounded queue; a track a queue behind drops to the next keyframe."""
    while True:
        try:
            packet = await track.recv()
        except MediaStreamError:
            return
        data = FRAME_HEAD.pack(feed_id, int(packet.pts or 0) & 0xFFFFFFFF) + bytes(packet)
        try:
            await send(data)
        except (ConnectionError, RuntimeError):
            return
        tally.frames += 1
        tally.octets += len(data)


class RelayHub(Hub):
    """A track of the other node's, here: its frames come over the link; a keyframe request
    of its viewers (merged here as the sending node's hub merges its own) goes back over it."""

    def __init__(
        self,
        kind: str,
        mime: str,
        rate: int,
        ask: Callable[[], None],
        tally: ForwardTally | None = None,
    ) -> None:
        # No receiver: the publisher is on the other node (``_send_pli`` is all that used it).
        super().__init__(kind, mime, rate, None, tally)  # type: ignore[arg-type]
        self._ask = ask

    def _send_pli(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._last_request = time.monotonic()
        self.tally.keyframe_requests += 1
        self._ask()


def relay_hub(feed: dict[str, object], ask: Callable[[], None], media: object) -> RelayHub:
    """A hub for a feed as ``feed_doc`` announced it; what it forwards is counted with the rest
    of this node's (``media``, its backend), for ``/metrics``."""
    tally = media.tally if isinstance(media, CountsForwarding) else None
    return RelayHub(str(feed["kind"]), str(feed["mime"]), int(str(feed["rate"])), ask, tally)


class RelayedPublisher(AiortcPublisher):
    """A publication of another node's as this node's backend sees one: hubs, no peer
    connection (the viewers' side of ``AiortcBackend`` takes any ``AiortcPublisher``)."""

    def __init__(self, hubs: list[Hub]) -> None:  # no super().__init__: there is no peer
        self.hubs = hubs
        self._watch = None

    async def accept_offer(self, sdp: str) -> str:
        raise ValueError("a relayed publication takes no offer")

    async def close(self) -> None:
        for hub in self.hubs:
            hub.close()
