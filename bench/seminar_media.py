"""The seminar bench's media: frames encoded once, sent by every participant, counted unseen.

A short loop of VP8 frames (small, thumbnail and full size) and of Opus frames (a tone, silence) is
encoded once per process; each participant's tracks hand the same encoded bytes to aiortc as
``av.Packet``s with their own ``pts``, so aiortc packetizes them (``encoder.pack``) and never
encodes. A muted microphone sends nothing, as a browser's sender with no track does. What
arrives is counted below the jitter buffer (encoded frames) and at the connection (RTP packets
and bytes); nothing is decoded.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import queue
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

import aioice.ice
import av
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av.stream import Stream

from streaming.aiortc_forward import AiortcInternalsChanged

Level = Literal["small", "thumbnail", "full"]
VIDEO_CLOCK = fractions.Fraction(1, 90000)
AUDIO_CLOCK = fractions.Fraction(1, 48000)
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


@dataclass(frozen=True)
class Loop:
    """Encoded frames played in a circle at ``fps``; the first is a keyframe."""

    frames: tuple[bytes, ...]
    fps: float

    @property
    def kbit_s(self) -> float:
        return sum(map(len, self.frames)) * 8 * self.fps / len(self.frames) / 1000


def _picture(width: int, height: int, i: int, n: int) -> bytes:
    """Moving diagonal waves and a sliding box: an encoder spends its bitrate on it."""
    wave = bytes(int(128 + 70 * math.sin(6 * math.pi * x / width)) for x in range(2 * width))
    shift = (i * 2 * width // n) % width
    box_x, box_w = (width - width // 4) * i // n, width // 4
    rows = []
    for y in range(height):
        start = (shift + y // 2) % width
        row = wave[start : start + width]
        if height // 3 <= y < height // 3 + height // 4:
            row = row[:box_x] + bytes([235]) * box_w + row[box_x + box_w :]
        rows.append(row)
    return b"".join(rows)


def encode_video(width: int, height: int, fps: int, seconds: int, kbit_s: int) -> Loop:
    """VP8 at a target bitrate (libvpx, realtime): one keyframe, then predicted frames."""
    n = fps * seconds
    cc: Any = av.CodecContext.create("libvpx", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
    cc.time_base = fractions.Fraction(1, fps)
    cc.framerate = fps
    cc.bit_rate = kbit_s * 1000
    cc.gop_size = n
    cc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    for i in range(n):
        frame = av.VideoFrame(width, height, "yuv420p")
        y, u, v = frame.planes
        y.update(_picture(width, height, i, n))
        u.update(bytes([100 + 40 * i // n]) * u.buffer_size)
        v.update(bytes([150]) * v.buffer_size)
        frame.pts, frame.time_base = i, cc.time_base
        if i == 0:
            frame.pict_type = av.video.frame.PictureType.I
        out.extend(bytes(p) for p in cc.encode(frame))
    out.extend(bytes(p) for p in cc.encode(None))
    return Loop(tuple(out), fps)


def encode_audio(tone: bool, seconds: int = 1, kbit_s: int = 24) -> Loop:
    """Opus, 20 ms frames, mono 48 kHz: a 440 Hz tone (a speaker) or silence."""
    cc: Any = av.CodecContext.create("libopus", "w")
    cc.sample_rate, cc.layout, cc.format = 48000, "mono", "s16"
    cc.bit_rate = kbit_s * 1000
    period = [int(9000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(960)]
    pcm = b"".join(v.to_bytes(2, "little", signed=True) for v in period) if tone else bytes(1920)
    out: list[bytes] = []
    for i in range(50 * seconds):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(pcm)
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, AUDIO_CLOCK
        out.extend(bytes(p) for p in cc.encode(frame))
    return Loop(tuple(out), 50)


class LoopTrack(MediaStreamTrack):
    """Plays pre-encoded loops in real time as ``av.Packet``s. A video track holds a loop per
    quality level and switches (from the new loop's keyframe) when told, as a browser's camera
    sender does on ``setParameters``. ``None`` as the loop: nothing is sent (muted)."""

    def __init__(self, kind: str, loops: dict[Level, Loop] | None, level: Level) -> None:
        super().__init__()
        self.kind = kind
        self._loops = loops
        self.level = level
        self._playing: Level = level
        self._i = 0
        self._sent = 0.0  # seconds of media sent
        self._t0: float | None = None

    def set_level(self, level: Level) -> None:
        self.level = level

    def keyframe(self) -> None:
        """A keyframe request (PLI/FIR reaching the sender): the loop starts again from its
        keyframe, as a browser's encoder sends one."""
        self._i = 0

    async def recv(self) -> av.Packet[Stream]:
        if self._loops is None:  # muted: a sender with no track sends nothing
            await asyncio.Event().wait()
            raise MediaStreamError
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        if self.level != self._playing:
            self._playing, self._i = self.level, 0
        loop = self._loops[self._playing]
        await asyncio.sleep(max(0.0, self._t0 + self._sent - time.monotonic()))
        packet = av.Packet(loop.frames[self._i % len(loop.frames)])
        clock = VIDEO_CLOCK if self.kind == "video" else AUDIO_CLOCK
        packet.pts = round(self._sent / clock)
        packet.time_base = clock
        self._i += 1
        self._sent += 1 / loop.fps
        return packet


class _FrameCount(queue.Queue[Any]):
    """In the receiver's decoder queue's place: counts encoded frames, decodes nothing."""

    def __init__(self, counter: Counter, kind: str) -> None:
        super().__init__()
        self._counter = counter
        self._kind = kind

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)  # the receiver stopping: its thread ends
        else:
            self._counter.frames[self._kind] += 1


@dataclass
class Counter:
    """What one viewer's connection to one source received: encoded frames by kind, RTP
    packets and bytes (header and payload, after SRTP)."""

    frames: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    packets: int = 0
    octets: int = 0

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.frames["video"], self.frames["audio"], self.packets, self.octets


class _RtpFrames:
    """Frames counted from RTP headers alone (after SRTP, before aiortc's receiver): a video
    frame counts when its last packet (marker bit) arrives with every packet since the previous
    frame's; an audio packet is a frame. Nothing reaches aiortc's jitter buffer, NACK or RTCP
    machinery, whose per-packet cost in Python would make the load generator, not the server,
    the bottleneck of a 600-tile room on two cores."""

    def __init__(self, counter: Counter, kinds: dict[int, str]) -> None:
        self.counter = counter
        self._kinds = kinds  # payload type → "video" / "audio"
        self._next: dict[int, int] = {}  # ssrc → the sequence number expected next
        self._whole: dict[int, bool] = {}  # ssrc → no packet of this frame missing so far

    def packet(self, data: bytes) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        kind = self._kinds.get(data[1] & 0x7F)
        if kind == "audio":
            self.counter.frames["audio"] += 1
            return
        if kind != "video":
            return
        ssrc = int.from_bytes(data[8:12], "big")
        seq = int.from_bytes(data[2:4], "big")
        expected = self._next.get(ssrc)
        whole = self._whole.get(ssrc, True) and (expected is None or seq == expected)
        self._next[ssrc] = (seq + 1) & 0xFFFF
        if data[1] & 0x80:  # the frame's last packet
            if whole:
                self.counter.frames["video"] += 1
            self._whole[ssrc] = True
        else:
            self._whole[ssrc] = whole


# aioice connection → its viewer's frame counter (RTP counted as it comes off the socket).
_TAPPED: weakref.WeakKeyDictionary[Any, _RtpFrames] = weakref.WeakKeyDictionary()
_inner: list[Any] = []  # the datagram handler this tap wraps (aioice's, or a wrapper of it)


def _datagram_received(self: Any, data: bytes | str, addr: Any) -> None:
    # RFC 7983: 128-191 is RTP or RTCP. RTP of a tapped connection is counted here, from its
    # header (in the clear under SRTP; a packet whose payload a forger altered would be
    # counted, which loopback between our own processes does not see), and goes no further.
    if isinstance(data, bytes) and data and 127 < data[0] < 192:
        frames = _TAPPED.get(self.receiver)
        if frames is not None and not 192 <= data[1] <= 223:  # RTCP (192-223): aiortc's
            frames.counter.packets += 1
            frames.counter.octets += len(data)
            frames.packet(data)
            return
    _inner[0](self, data, addr)


def count_rtp_frames(pc: RTCPeerConnection, counter: Counter) -> None:
    """Tap a viewer's connection at the socket (see ``_RtpFrames``): its RTP never reaches
    aioice's queue, DTLS, SRTP or aiortc's receiver. Call after setRemoteDescription."""
    kinds: dict[int, str] = {}
    connection = None
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for codec in transceiver._codecs:
            if codec.payloadType is not None:
                kinds[codec.payloadType] = transceiver.kind
    if connection is None:
        return
    if not _inner:
        _inner.append(aioice.ice.StunProtocol.datagram_received)
        aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign]
    _TAPPED[connection] = _RtpFrames(counter, kinds)


def count_without_decoding(pc: RTCPeerConnection, counter: Counter) -> None:
    """Tap a viewer's connection: encoded frames counted per kind, never decoded; RTP counted
    as it arrives. Call after setRemoteDescription, before setLocalDescription."""
    dtls = None
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if not isinstance(getattr(receiver, _DECODER_QUEUE, None), queue.Queue):
            raise AiortcInternalsChanged(f"RTCRtpReceiver has no {_DECODER_QUEUE}")
        setattr(receiver, _DECODER_QUEUE, _FrameCount(counter, transceiver.kind))
        dtls = receiver.transport
    if dtls is None:
        return
    handle = dtls._handle_rtp_data

    async def counted(data: bytes, arrival_time_ms: int) -> None:
        counter.packets += 1
        counter.octets += len(data)
        await handle(data, arrival_time_ms)

    dtls._handle_rtp_data = counted  # type: ignore[method-assign]
