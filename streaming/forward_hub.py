"""What a published track's fan-out decides, without touching aiortc's internals: encoded frames
packetized once (``Frame``), kept since the last keyframe for viewers that connect next,
keyframe requests coalesced, and bounded queues for in-process consumers (``ForwardedTrack``).

``aiortc_forward.Hub`` is this ``HubCore`` bound to a publisher's aiortc receiver (the keyframe
request to the publisher is an aiortc internal) and to aiortc's packetizer; the senders it feeds
(``aiortc_forward.LeanSender``) are ``SenderCore``s. Everything that reads aiortc's,
aioice's, pylibsrtp's or asyncio's internals stays in ``aiortc_forward``.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import random
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from aiortc import MediaStreamTrack, clock
from aiortc.mediastreams import MediaStreamError
from av import Packet
from av.stream import Stream

from .stats import ForwardTally

log = logging.getLogger("sabaq.streaming.forward")

KEYFRAME_REQUEST_INTERVAL = 0.3  # at most this often a PLI per published track
VIDEO_QUEUE = 60  # frames a viewer may fall behind (2 s at 30 fps) before skipping
AUDIO_QUEUE = 100  # 2 s of 20 ms Opus frames
RTP_HISTORY = 128  # packets a viewer can ask to have sent again (NACK), as many as aiortc keeps
GOP_CACHE = 30  # frames since the last keyframe kept for viewers that connect next
GOP_CACHE_AGE = 0.5  # seconds: an older keyframe is not replayed (a fresh one is asked for)
SEND_BUFFER_LIMIT = 256 * 1024  # bytes queued for a viewer's socket before it skips frames
RTP_HEADER = struct.Struct("!BBHII")


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


def later(timestamp: int, than: int) -> bool:
    """Whether an RTP timestamp comes after another (modulo 2^32, as RTP has it)."""
    return 0 < (timestamp - than) & 0xFFFFFFFF < 1 << 31


class Frame(NamedTuple):
    """An encoded frame, packetized once for every viewer: RTP payloads and timestamp; and,
    worked out once rather than per viewer, each payload with its size and marker bit (set on
    the frame's last packet), their total size and the largest."""

    payloads: list[bytes]
    timestamp: int
    keyframe: bool
    parts: tuple[tuple[bytes, int, int], ...]
    octets: int
    largest: int

    @classmethod
    def of(cls, payloads: list[bytes], timestamp: int, keyframe: bool) -> Frame:
        sizes = [len(p) for p in payloads]
        last = len(payloads) - 1
        parts = tuple(
            (p, n, 0x80 if i == last else 0)
            for i, (p, n) in enumerate(zip(payloads, sizes, strict=True))
        )
        return cls(payloads, timestamp, keyframe, parts, sum(sizes), max(sizes, default=0))


class Packer(Protocol):
    def pack(self, packet: Packet[Stream]) -> tuple[list[bytes], int]: ...


class HubCore:
    """One published track: its encoded frames, packetized once and sent to every viewer's
    sender; and handed as ``av.Packet``s to the bounded queues of in-process consumers (the
    recorder). ``_send_pli`` (asking the publisher for a keyframe) is the binding's."""

    def __init__(
        self, kind: str, mime: str, clock_rate: int, packer: Packer, tally: ForwardTally | None
    ) -> None:
        self.kind = kind
        # What this track's senders count is summed here (the backend's, read by /metrics).
        self.tally = tally if tally is not None else ForwardTally()
        self.mime = mime
        self.time_base = fractions.Fraction(1, clock_rate)
        self._packer = packer  # pack() only: nothing is encoded
        self.viewers: set[ForwardedTrack] = set()
        self.senders: set[SenderCore] = set()
        self._since_keyframe: list[Frame] = []  # for viewers that connect next
        self._keyframe_at = 0.0
        self._last_request = 0.0
        self._deferred: asyncio.TimerHandle | None = None
        self.frames = 0
        self._levels, self._heard = 0, 0  # audio: levels summed, packets, since the last look

    def hear(self, level: int) -> None:
        self._levels += level
        self._heard += 1

    def take_level(self) -> int | None:
        """The mean audio level (-dBov) of the packets since the last call, or None."""
        if not self._heard:
            return None
        mean = round(self._levels / self._heard)
        self._levels, self._heard = 0, 0
        return mean

    def on_frame(self, data: bytes, timestamp: int) -> None:
        self.frames += 1
        packet = Packet(data)
        packet.pts = timestamp
        packet.time_base = self.time_base
        keyframe = self.kind == "audio" or is_keyframe(self.mime, data)
        for viewer in self.viewers:
            viewer.offer(packet, keyframe)
        payloads, rtp_timestamp = self._packer.pack(packet)
        frame = Frame.of(payloads, rtp_timestamp, keyframe)
        if self.kind == "video":
            if keyframe:
                self._since_keyframe = [frame]
                self._keyframe_at = time.monotonic()
            elif 0 < len(self._since_keyframe) < GOP_CACHE:
                self._since_keyframe.append(frame)
            else:
                self._since_keyframe = []
        ntp = clock.current_ntp_time()
        for sender in tuple(self.senders):  # a sender whose connection is gone leaves
            try:
                sender.send_frame(frame, ntp)
            except Exception:  # one viewer's failure must not disturb the others
                log.exception("forwarding to a viewer failed; that viewer is dropped")
                self.tally.send_errors += 1
                sender.fail()

    def attach(self, sender: SenderCore) -> None:
        """A viewer's connection is up (or a held viewer is released): start it from the last
        keyframe if that is recent (the picture appears at once), else from the next one,
        asked for now."""
        self.senders.add(sender)
        if self.kind != "video":
            return
        # Replayed only while recent and short enough to be resent in full on NACKs: a burst
        # of old frames would start the picture behind the sound. A released viewer is not
        # sent again what it had before it was held.
        cached = self._since_keyframe
        last = sender.last_timestamp
        if (
            cached
            and time.monotonic() - self._keyframe_at <= GOP_CACHE_AGE
            and sum(len(f.payloads) for f in cached) <= RTP_HISTORY
            and (last is None or later(cached[0].timestamp, last))
        ):
            ntp = clock.current_ntp_time()
            for frame in cached:
                sender.send_frame(frame, ntp)
        else:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe. Requests closer together than the interval merge
        into one sent at the end of the interval, so none is lost and the publisher is not
        flooded."""
        if self.kind != "video":
            return
        wait = self._last_request + KEYFRAME_REQUEST_INTERVAL - time.monotonic()
        if wait > 0:
            if self._deferred is None:
                self._deferred = asyncio.get_running_loop().call_later(wait, self._request_now)
            return
        self._request_now()

    def _request_now(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()  # this request covers the deferred one too
            self._deferred = None
        self._last_request = time.monotonic()
        self.tally.keyframe_requests += 1
        self._send_pli()

    def _send_pli(self) -> None:
        """Ask the publisher for a keyframe, each kind of hub its own way: ``aiortc_forward.Hub``
        sends an RTCP PLI to the publisher, ``cascade_media.RelayHub`` a message to the origin."""
        raise NotImplementedError

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
        for sender in list(self.senders):
            sender.close()
        self._since_keyframe = []


class ForwardedTrack(MediaStreamTrack):
    """A viewer's copy of a published track: encoded packets, never decoded.

    The queue is bounded: a viewer that falls behind loses what is queued and waits for the
    next keyframe (which it asks for), so it never slows the others or grows memory.
    """

    def __init__(self, hub: HubCore) -> None:
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

    def restart(self) -> None:
        """Go on from the next key frame, asked for now: what is queued is dropped (a consumer
        that skipped frames, the recording of a camera turned on again)."""
        if self.kind != "video":
            return
        self.dropped += len(self._queue)
        self._queue.clear()
        self._need_keyframe = True
        self.hub.request_keyframe()

    def stop(self) -> None:
        self.hub.viewers.discard(self)
        super().stop()
        self._ready.set()


class Idle(MediaStreamTrack):
    """The track a viewer's aiortc sender is given. It yields nothing (the lean sender sends);
    the sender asks it for a frame once the viewer's DTLS is up, which starts the lean sender."""

    def __init__(self, kind: str, started: Callable[[], None], ended: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self._started = started
        self._ended = ended
        self._stopped = asyncio.Event()

    async def recv(self) -> Packet[Stream]:
        if self.readyState == "live":
            self._started()
            await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._stopped.set()
            self._ended()


class SenderCore:
    """What one viewer is sent of a hub's frames, and what it can ask again; how a packet gets
    to it (``_start``, ``send_frame``) is the binding's (``aiortc_forward.LeanSender``).

    Bounded: when more than ``SEND_BUFFER_LIMIT`` bytes wait for the viewer's socket, the viewer
    skips frames up to the next keyframe (asked for once its socket drains), so a slow viewer
    never slows the others or grows memory. The last ``RTP_HISTORY`` packets are kept, as sent,
    for the viewer's NACKs.

    A sender can be held (a viewer who chose low bandwidth gets no camera video): it leaves the
    hub's senders, so it costs nothing per frame, and its viewer's keyframe requests are not
    passed on. Released, it rejoins the hub and starts again from a keyframe; its sequence
    numbers carry on without a gap (nothing to NACK), its timestamps jump ahead.
    """

    def __init__(self, hub: HubCore, ssrc: int, on_failed: Callable[[], None]) -> None:
        self.hub = hub
        self._on_failed = on_failed
        self.track = Idle(hub.kind, self._start, self.close)
        self._ssrc = ssrc
        self._payload_type = 0
        # In the lower half, as aiortc and libwebrtc do: a receiver's SRTP assumes no wrap yet
        # for the first packet it sees, so a start near 65535 with early losses breaks it.
        self._sequence = 1 + secrets.randbelow((1 << 15) - 1)
        self._timestamp_offset = random.getrandbits(32)
        self._history: list[tuple[int, bytes] | None] = [None] * RTP_HISTORY
        self._protect: Callable[[bytes], bytes] | None = None
        self._transport: Any = None
        self._addr: tuple[str, int] = ("", 0)
        self._closing: Callable[[], bool] = never_closing
        self._need_keyframe = hub.kind == "video"
        self._want_keyframe = False
        self.held = False
        self.last_timestamp: int | None = None  # of the last frame sent, as the hub has it
        self.packets = 0
        self.octets = 0
        self.dropped = 0
        self.skipped = 0  # frames skipped for a full socket (also in ``dropped``)
        self.nacks = 0
        self.retransmitted = 0
        hub.tally.opened(self)

    def _start(self) -> None:
        """Begin sending once the connection is up: ``aiortc_forward.LeanSender`` binds to the
        transport aiortc set up (the internals stay in that module)."""
        raise NotImplementedError

    def send_frame(self, frame: Frame, ntp: int) -> None:
        """Send one of the hub's frames to this viewer (``aiortc_forward.LeanSender``)."""
        raise NotImplementedError

    def hold(self, held: bool) -> None:
        """Stop sending the hub's frames to this viewer, or start again (from a keyframe)."""
        if held == self.held:
            return
        self.held = held
        if held:
            self.hub.senders.discard(self)
            self._need_keyframe = self.hub.kind == "video"
            self._want_keyframe = False
        elif self._protect is not None and self.track.readyState == "live":
            self.hub.attach(self)  # not started yet: connect() attaches it; closed: never

    def _keyframe_requested(self) -> None:
        """The viewer's PLI or FIR goes to the hub, unless the viewer is held: one that is sent
        no picture must not make the publisher send keyframes."""
        if not self.held:
            self.hub.request_keyframe()

    def _send_through(self, payloads: list[bytes], timestamp: int, transport: Any) -> int:
        """A frame's packets through the ``protect`` callable and the transport's ``sendto`` (a
        TURN relay's transport, a session or transport of another kind)."""
        protect = self._protect or _unprotected
        sequence, history, addr, pt = self._sequence, self._history, self._addr, self._payload_type
        last, octets = len(payloads) - 1, 0
        for i, payload in enumerate(payloads):
            data = protect(
                RTP_HEADER.pack(
                    0x80, pt | 0x80 if i == last else pt, sequence, timestamp, self._ssrc
                )
                + payload
            )
            transport.sendto(data, addr)
            history[sequence % RTP_HISTORY] = (sequence, data)
            sequence = (sequence + 1) & 0xFFFF
            octets += len(payload)
        self._sequence = sequence
        return octets

    async def _retransmit(self, sequence_number: int) -> None:
        """A viewer's NACK: the packet is sent again as it was (aiortc does the same)."""
        self.nacks += 1
        entry = self._history[sequence_number % RTP_HISTORY]
        transport = self._transport
        if (
            entry is not None
            and entry[0] == sequence_number
            and transport is not None
            and not self._closing()
        ):
            transport.sendto(entry[1], self._addr)
            self.retransmitted += 1

    def close(self) -> None:
        self.hub.senders.discard(self)
        self.hub.tally.closed(self)
        self._history = [None] * RTP_HISTORY
        self.track.stop()

    def fail(self) -> None:
        """Sending to this viewer failed: it stops, and its connection is reported failed (the
        room tells the page, which reconnects) rather than left frozen."""
        self.close()
        asyncio.get_running_loop().call_soon(self._on_failed)


def _unprotected(data: bytes) -> bytes:
    raise RuntimeError("a lean sender sent before its SRTP session was set")


def never_closing() -> bool:
    """A transport that cannot say whether it is closing: it is not."""
    return False
