"""Fan-out without decoding or re-encoding: the publisher's encoded frames go to every viewer.

Every use of aiortc's internals is in this module, checked by ``check_internals()`` at import
and by ``tests/test_forwarding.py``; aiortc is pinned exactly in ``pyproject.toml``:

- ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue`` — the ``queue.Queue`` into which the
  receiver, on the event loop, puts each reassembled ``(codec, JitterFrame)`` for its decoder
  thread. Before the receiver starts we put a ``Tap`` there: it hands every frame to a ``Hub``
  and never to the decoder, so nothing is decoded.
- ``RTCRtpReceiver._send_rtcp_pli(ssrc)`` — asks the publisher for a keyframe.
- ``RTCRtpSender._send_keyframe()`` — what a viewer's sender calls on the viewer's PLI/FIR; on
  the pre-encoded path aiortc ignores it, so each viewer's sender routes it to the hub.
- ``RTCRtpTransceiver._codecs`` — the codecs negotiated with the publisher; viewers are offered
  exactly the publisher's codec, since frames are passed on as they are.
- An ``av.Packet`` returned by a track is packetized by the sender's ``encoder.pack()``.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import time
from collections import deque
from typing import Any

import aiortc
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from av import Packet
from av.stream import Stream

log = logging.getLogger("sabaq.streaming.forward")

AIORTC_VERSION = "1.16.0"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
KEYFRAME_REQUEST_INTERVAL = 0.3  # at most this often a PLI per published track
VIDEO_QUEUE = 60  # frames a viewer may fall behind (2 s at 30 fps) before skipping
AUDIO_QUEUE = 100  # 2 s of 20 ms Opus frames


class AiortcInternalsChanged(RuntimeError):
    pass


def check_internals() -> None:
    """Fail loudly when the aiortc internals this module relies on are not there."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise AiortcInternalsChanged(
            f"Sabaq forwards media through aiortc {AIORTC_VERSION} internals, found"
            f" aiortc {aiortc.__version__}: re-check streaming/aiortc_forward.py"
        )
    missing = [
        name
        for owner, name in (
            (RTCRtpReceiver, "_send_rtcp_pli"),
            (RTCRtpSender, "_send_keyframe"),
            (RTCRtpReceiver, "getSynchronizationSources"),
        )
        if not hasattr(owner, name)
    ]
    if missing:
        raise AiortcInternalsChanged(f"aiortc lacks {', '.join(missing)}")


def is_keyframe(mime: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own."""
    if not data:
        return False
    if mime == "video/VP8":
        return not data[0] & 0x01  # the P bit of the VP8 frame tag: 0 means key frame
    if mime == "video/H264":
        # aiortc's depayloader gives Annex B: look for an IDR slice (NAL type 5).
        i = data.find(b"\x00\x00\x01")
        while i != -1 and i + 3 < len(data):
            if data[i + 3] & 0x1F == 5:
                return True
            i = data.find(b"\x00\x00\x01", i + 3)
        return False
    return True  # audio: every frame stands alone


class Tap(queue.Queue[Any]):
    """Takes the receiver's decoder queue's place: frames go to the hub, not to a decoder."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self._hub = hub

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stopping: let its idle decoder thread end
            super().put(None, block, timeout)
            return
        _codec, frame = item
        self._hub.on_frame(frame.data, frame.timestamp)


class Hub:
    """One published track: its encoded frames, fanned out to the viewers' bounded queues."""

    def __init__(self, kind: str, mime: str, clock_rate: int, receiver: RTCRtpReceiver) -> None:
        self.kind = kind
        self.mime = mime
        self.time_base = fractions.Fraction(1, clock_rate)
        self._receiver = receiver
        self.viewers: set[ForwardedTrack] = set()
        self._last_request = 0.0
        self._deferred: asyncio.TimerHandle | None = None
        self.frames = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_frame(self, data: bytes, timestamp: int) -> None:
        self.frames += 1
        packet = Packet(data)
        packet.pts = timestamp
        packet.time_base = self.time_base
        keyframe = self.kind == "audio" or is_keyframe(self.mime, data)
        for viewer in self.viewers:
            viewer.offer(packet, keyframe)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe. Requests closer together than the interval merge
        into one sent at the end of the interval, so none is lost and the publisher is not
        flooded."""
        if self.kind != "video":
            return
        wait = self._last_request + KEYFRAME_REQUEST_INTERVAL - time.monotonic()
        if wait > 0:
            if self._deferred is None:
                self._deferred = asyncio.get_running_loop().call_later(wait, self._send_pli)
            return
        self._send_pli()

    def _send_pli(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()  # this send covers the deferred one too
            self._deferred = None
        self._last_request = time.monotonic()
        for source in self._receiver.getSynchronizationSources():
            task = asyncio.ensure_future(self._receiver._send_rtcp_pli(source.source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def subscribe(self) -> ForwardedTrack:
        track = ForwardedTrack(self)
        self.viewers.add(track)
        self.request_keyframe()  # a new viewer needs a keyframe to start from
        return track

    def close(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
        for viewer in list(self.viewers):
            viewer.stop()


class ForwardedTrack(MediaStreamTrack):
    """A viewer's copy of a published track: encoded packets, never decoded.

    The queue is bounded: a viewer that falls behind loses what is queued and waits for the
    next keyframe (which it asks for), so it never slows the others or grows memory.
    """

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.kind = hub.kind
        self.hub = hub
        self._queue: deque[Packet[Stream]] = deque()
        self._limit = VIDEO_QUEUE if hub.kind == "video" else AUDIO_QUEUE
        self._ready = asyncio.Event()
        self._need_keyframe = hub.kind == "video"
        self._want_keyframe = False
        self.dropped = 0

    def offer(self, packet: Packet[Stream], keyframe: bool) -> None:
        if self._need_keyframe:
            if not keyframe:
                self.dropped += 1
                return
            self._need_keyframe = False
        if len(self._queue) >= self._limit:
            self.dropped += len(self._queue) + 1
            self._queue.clear()
            if self.kind == "video":
                # Ask for a keyframe only once this viewer pulls frames again: one that never
                # reads (never answered, stalled) must not make the teacher send keyframes.
                self._need_keyframe = self._want_keyframe = True
            return
        self._queue.append(packet)
        self._ready.set()

    async def recv(self) -> Packet[Stream]:
        if self._want_keyframe:
            self._want_keyframe = False
            self.hub.request_keyframe()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def stop(self) -> None:
        self.hub.viewers.discard(self)
        super().stop()
        self._ready.set()


def tap_receiver(transceiver: RTCRtpTransceiver) -> Hub:
    """Divert a publisher's receiver to a hub. Call after setRemoteDescription, before the
    local description (which starts the receiver)."""
    receiver = transceiver.receiver
    if not isinstance(getattr(receiver, _QUEUE_ATTR, None), queue.Queue):
        raise AiortcInternalsChanged(f"RTCRtpReceiver has no {_QUEUE_ATTR}")
    codecs = [c for c in transceiver._codecs if c.mimeType.split("/")[1].lower() != "rtx"]
    if not codecs:
        raise ValueError(f"no {transceiver.kind} codec in common with the publisher")
    codec = codecs[0]
    hub = Hub(transceiver.kind, codec.mimeType, codec.clockRate, receiver)
    setattr(receiver, _QUEUE_ATTR, Tap(hub))
    return hub


def route_keyframe_requests(sender: RTCRtpSender, hub: Hub) -> None:
    """A viewer's PLI/FIR becomes a (coalesced) keyframe request to the publisher."""
    sender._send_keyframe = hub.request_keyframe  # type: ignore[method-assign]


check_internals()
