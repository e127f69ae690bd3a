"""Fan-out without decoding or re-encoding: the publisher's encoded frames go to every viewer.

Each published track has a ``Hub``: it gets the publisher's reassembled encoded frames (aiortc's
receiver does ICE, DTLS, SRTP, jitter buffer and NACKs to the publisher), packetizes each frame
once, and hands the same payloads to every viewer's ``LeanSender``, which only writes a 12-byte
RTP header (the viewer's SSRC, sequence number, timestamp), protects the packet with the viewer's
SRTP session and puts it on the viewer's UDP socket. aiortc is used for ICE, DTLS and the SRTP
keys of the viewer's connection, and for the RTCP that comes back (receiver reports; NACK and
PLI are routed to the lean sender and the hub); its per-packet sender path is not used.

Every use of aiortc's and aioice's internals is in this module (but aioice's consent check,
replaced in ``ice_consent``), checked by ``check_internals()`` at import and by
``tests/integration/streaming/test_forwarding.py``; aiortc, aioice and pylibsrtp are pinned
exactly in ``pyproject.toml``:

- ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue`` — the ``queue.Queue`` into which the
  receiver, on the event loop, puts each reassembled ``(codec, JitterFrame)`` for its decoder
  thread. Before the receiver starts we put a ``Tap`` there: it hands every frame to a ``Hub``
  and never to the decoder, so nothing is decoded.
- ``RTCRtpReceiver._send_rtcp_pli(ssrc)`` — asks the publisher for a keyframe.
- ``RTCRtpSender._send_keyframe()`` — what a viewer's sender calls on the viewer's PLI/FIR; on
  the pre-encoded path aiortc ignores it, so each viewer's sender routes it to the hub.
- ``RTCRtpTransceiver._codecs`` — the codecs negotiated with the publisher; viewers are offered
  exactly the publisher's codec, since frames are passed on as they are. On a viewer's
  transceiver, the negotiated payload type.
- ``RTCRtpSender._ssrc`` and ``_retransmit(seq)`` (a viewer's NACK, answered from the lean
  sender's history), and the sender's report counters ``_RTCRtpSender__ntp_timestamp``,
  ``__rtp_timestamp``, ``__packet_count``, ``__octet_count``, kept current so the sender
  reports (RTCP SR) that aiortc sends still let the browser line sound up with picture.
- ``RTCDtlsTransport._tx_srtp`` — the viewer's pylibsrtp session, after the DTLS handshake.
- ``RTCIceTransport._connection._nominated[1]`` — aioice's nominated candidate pair, whose
  ``protocol.transport`` (a datagram transport) and ``remote_addr`` are where packets go.
- pylibsrtp 1.0.0's ``Session._srtp``, ``_cdata`` and ``_buffer`` and its binding's
  ``srtp_protect``: a viewer's packets are protected in the session's buffer, the RTP header
  written in place, without a Python call of ``protect`` per packet (``_DirectSrtp``).
- asyncio's ``_SelectorDatagramTransport`` ``_sock`` and ``_buffer``: while the transport has
  nothing queued, packets go to the socket's ``sendto`` directly (what the transport's
  ``sendto`` would do, less its checks); once it has, through the transport, in order.
- The encoders' ``pack()`` (aiortc's packetizers) for the payloads of a frame.
- ``RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)`` — wrapped on a publisher's
  audio receiver to read ``packet.extensions.audio_level`` (the ssrc-audio-level header
  extension, which aiortc parses) for the active speaker.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import random
import secrets
import struct
import time
from asyncio import selector_events
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import aioice
import aiortc
import pylibsrtp
from aiortc import (
    MediaStreamTrack,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    clock,
)
from aiortc.codecs import get_encoder
from aiortc.mediastreams import MediaStreamError
from av import Packet
from av.stream import Stream
from pylibsrtp._binding import ffi, lib

from .stats import ForwardTally

log = logging.getLogger("sabaq.streaming.forward")

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_SENDER_REPORT_ATTRS = _NTP, _RTP_TIMESTAMP, _PACKETS, _OCTETS = tuple(
    f"_RTCRtpSender__{name}"
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
)
PYLIBSRTP_VERSION = "1.0.0"
_DatagramTransport: Any = getattr(selector_events, "_SelectorDatagramTransport", None)
KEYFRAME_REQUEST_INTERVAL = 0.3  # at most this often a PLI per published track
VIDEO_QUEUE = 60  # frames a viewer may fall behind (2 s at 30 fps) before skipping
AUDIO_QUEUE = 100  # 2 s of 20 ms Opus frames
RTP_HISTORY = 128  # packets a viewer can ask to have sent again (NACK), as many as aiortc keeps
SEND_BUFFER_LIMIT = 256 * 1024  # bytes queued for a viewer's socket before it skips frames
GOP_CACHE = 30  # frames since the last keyframe kept for viewers that connect next
GOP_CACHE_AGE = 0.5  # seconds: an older keyframe is not replayed (a fresh one is asked for)
_RTP_HEADER = struct.Struct("!BBHII")


class AiortcInternalsChanged(RuntimeError):
    pass


def check_internals() -> None:
    """Fail loudly when the aiortc internals this module relies on are not there."""
    for package, pinned in (
        (aiortc, AIORTC_VERSION),
        (aioice, AIOICE_VERSION),
        (pylibsrtp, PYLIBSRTP_VERSION),
    ):
        if package.__version__ != pinned:
            raise AiortcInternalsChanged(
                f"Sabaq forwards media through {package.__name__} {pinned} internals, found"
                f" {package.__name__} {package.__version__}: re-check"
                " streaming/aiortc_forward.py"
            )
    missing = [
        name
        for owner, name in (
            (RTCRtpReceiver, "_send_rtcp_pli"),
            (RTCRtpReceiver, "_handle_rtp_packet"),
            (RTCRtpSender, "_send_keyframe"),
            (RTCRtpSender, "_retransmit"),
            (RTCRtpReceiver, "getSynchronizationSources"),
            (aioice.ice.CandidatePair, "remote_addr"),
            (pylibsrtp.Session, "protect"),
            (lib, "srtp_protect"),
            (_DatagramTransport, "sendto"),
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


class Hub:
    """One published track: its encoded frames, packetized once and sent to every viewer's
    lean sender; and handed as ``av.Packet``s to the bounded queues of in-process consumers
    (the recorder)."""

    def __init__(
        self,
        kind: str,
        mime: str,
        clock_rate: int,
        receiver: RTCRtpReceiver,
        tally: ForwardTally | None = None,
    ) -> None:
        self.kind = kind
        # What this track's senders count is summed here (the backend's, read by /metrics).
        self.tally = tally if tally is not None else ForwardTally()
        self.mime = mime
        self.time_base = fractions.Fraction(1, clock_rate)
        self._receiver = receiver
        # pack() only: aiortc's packetizer for the codec; nothing is encoded.
        self._packer = get_encoder(
            RTCRtpCodecParameters(mimeType=mime, clockRate=clock_rate, payloadType=0)
        )
        self.viewers: set[ForwardedTrack] = set()
        self.senders: set[LeanSender] = set()
        self._since_keyframe: list[Frame] = []  # for viewers that connect next
        self._keyframe_at = 0.0
        self._last_request = 0.0
        self._deferred: asyncio.TimerHandle | None = None
        self.frames = 0
        self._tasks: set[asyncio.Task[None]] = set()
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

    def attach(self, sender: LeanSender) -> None:
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
            and (last is None or _later(cached[0].timestamp, last))
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
                self._deferred = asyncio.get_running_loop().call_later(wait, self._send_pli)
            return
        self._send_pli()

    def _send_pli(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()  # this send covers the deferred one too
            self._deferred = None
        self._last_request = time.monotonic()
        self.tally.keyframe_requests += 1
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
        for sender in list(self.senders):
            sender.close()
        self._since_keyframe = []


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


def tap_receiver(transceiver: RTCRtpTransceiver, tally: ForwardTally | None = None) -> Hub:
    """Divert a publisher's receiver to a hub. Call after setRemoteDescription, before the
    local description (which starts the receiver)."""
    receiver = transceiver.receiver
    if not isinstance(getattr(receiver, _QUEUE_ATTR, None), queue.Queue):
        raise AiortcInternalsChanged(f"RTCRtpReceiver has no {_QUEUE_ATTR}")
    codecs = [c for c in transceiver._codecs if not _is_rtx(c)]
    if not codecs:
        raise ValueError(f"no {transceiver.kind} codec in common with the publisher")
    codec = codecs[0]
    hub = Hub(transceiver.kind, codec.mimeType, codec.clockRate, receiver, tally)
    setattr(receiver, _QUEUE_ATTR, Tap(hub))
    if hub.kind == "audio":
        _hear_levels(receiver, hub)
    return hub


def _hear_levels(receiver: RTCRtpReceiver, hub: Hub) -> None:
    """Each audio packet's level (the ssrc-audio-level header extension, as aiortc parsed it)
    goes to the hub before the receiver handles the packet: measured without decoding."""
    handle = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        level = packet.extensions.audio_level
        if level is not None:
            hub.hear(level[1])
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


class _Idle(MediaStreamTrack):
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


class LeanSender:
    """Sends a hub's frames to one viewer: RTP header rewrite, SRTP protect, ``sendto``.

    Bounded: when more than ``SEND_BUFFER_LIMIT`` bytes wait for the viewer's socket, the viewer
    skips frames up to the next keyframe (asked for once its socket drains), so a slow viewer
    never slows the others or grows memory. The last ``RTP_HISTORY`` packets are kept, as sent,
    for the viewer's NACKs.

    A sender can be held (a viewer who chose low bandwidth gets no camera video): it leaves the
    hub's senders, so it costs nothing per frame, and its viewer's keyframe requests are not
    passed on. Released, it rejoins the hub and starts again from a keyframe; its sequence
    numbers carry on without a gap (nothing to NACK), its timestamps jump ahead.
    """

    def __init__(
        self, hub: Hub, transceiver: RTCRtpTransceiver, on_failed: Callable[[], None]
    ) -> None:
        self.hub = hub
        self._on_failed = on_failed
        self._transceiver = transceiver
        self._sender = transceiver.sender
        self.track = _Idle(hub.kind, self._start, self.close)
        self._ssrc = self._sender._ssrc
        self._payload_type = 0
        # In the lower half, as aiortc and libwebrtc do: a receiver's SRTP assumes no wrap yet
        # for the first packet it sees, so a start near 65535 with early losses breaks it.
        self._sequence = 1 + secrets.randbelow((1 << 15) - 1)
        self._timestamp_offset = random.getrandbits(32)
        self._history: list[tuple[int, bytes] | None] = [None] * RTP_HISTORY
        self._protect: Callable[[bytes], bytes] | None = None
        self._srtp: _DirectSrtp | None = None
        self._sock_sendto: Callable[[bytes, tuple[str, int]], int] | None = None
        self._queued: Any = _UNKNOWN  # asyncio's queue of datagrams waiting for the socket
        self._nominated: dict[int, Any] = {}
        self._pair: Any = None
        self._transport: Any = None
        self._addr: tuple[str, int] = ("", 0)
        self._backlog: Callable[[], int] = _nothing
        self._closing: Callable[[], bool] = _false
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
        self._report: dict[str, Any] = vars(self._sender)  # its sender report's counters
        if not all(name in self._report for name in _SENDER_REPORT_ATTRS):
            raise AiortcInternalsChanged("RTCRtpSender has no sender report counters")
        hub.tally.opened(self)
        self._sender._send_keyframe = self._keyframe_requested  # type: ignore[method-assign]
        self._sender._retransmit = self._retransmit  # type: ignore[method-assign]

    def _start(self) -> None:
        if self._protect is not None:
            return
        dtls = self._sender.transport
        codecs = [c for c in self._transceiver._codecs if not _is_rtx(c)]
        srtp = getattr(dtls, "_tx_srtp", None)
        connection = getattr(dtls.transport, "_connection", None)
        nominated = getattr(connection, "_nominated", None)
        if not codecs or codecs[0].payloadType is None or srtp is None:
            raise AiortcInternalsChanged("a viewer's connection has no codec or SRTP session")
        if not isinstance(nominated, dict):
            raise AiortcInternalsChanged("aioice's connection has no nominated pairs")
        self.connect(srtp.protect, nominated, codecs[0].payloadType)

    def connect(
        self, protect: Callable[[bytes], bytes], nominated: dict[int, Any], payload_type: int
    ) -> None:
        """Start sending: SRTP protect, aioice's nominated pairs (by component), payload type."""
        self._protect = protect
        self._srtp = _DirectSrtp.of(protect)
        self._nominated = nominated
        self._payload_type = payload_type
        if not self.held:
            self.hub.attach(self)

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

    def send_frame(self, frame: Frame, ntp: int) -> None:
        pair = self._nominated.get(1)
        if pair is not self._pair:
            if pair is None:  # the connection closed
                self.close()
                return
            self._bind(pair)
        transport = self._transport
        if transport is None or self._protect is None or self._closing():
            return
        # Only what asyncio has queued can back up (another kind of transport: always ask).
        if self._queued and self._backlog() > SEND_BUFFER_LIMIT:
            self.dropped += 1
            self.skipped += 1
            self._need_keyframe = self._want_keyframe = self.hub.kind == "video"
            return
        if self._want_keyframe:  # drained again after an overflow
            self._want_keyframe = False
            self.hub.request_keyframe()
        if self._need_keyframe:
            if not frame.keyframe:
                self.dropped += 1
                return
            self._need_keyframe = False
        timestamp = (frame.timestamp + self._timestamp_offset) & 0xFFFFFFFF
        payloads = frame.payloads
        srtp, sock_sendto = self._srtp, self._sock_sendto
        if srtp is None or sock_sendto is None:
            sent = self._send_through(payloads, timestamp, transport)
        else:
            # Each packet is protected in the SRTP session's own buffer (the RTP header written
            # in place) and put on the socket at once while asyncio has nothing queued for it;
            # once something is queued (the socket was full), the rest goes through the
            # transport, in order.
            protect, context, cdata, buffer, length, room = srtp.parts
            if frame.largest > room:
                raise ValueError(f"an RTP payload of {frame.largest} bytes does not fit SRTP's")
            queued, pack_into, history, addr = (
                self._queued,
                _RTP_HEADER.pack_into,
                self._history,
                self._addr,
            )
            sequence, pt, ssrc = self._sequence, self._payload_type, self._ssrc
            for payload, n, marker in frame.parts:
                pack_into(buffer, 0, 0x80, pt | marker, sequence, timestamp, ssrc)
                buffer[12 : 12 + n] = payload
                length[0] = 12 + n
                if protect(context, cdata, length):
                    raise pylibsrtp.Error("srtp_protect failed")
                data = buffer[0 : length[0]]
                if queued:
                    transport.sendto(data, addr)
                else:
                    try:
                        sock_sendto(data, addr)
                    except OSError:  # full (asyncio queues it) or an error it reports
                        transport.sendto(data, addr)
                history[sequence % RTP_HISTORY] = (sequence, data)
                sequence = (sequence + 1) & 0xFFFF
            self._sequence = sequence
            sent = frame.octets
        self.packets += len(payloads)
        self.octets += sent
        self.last_timestamp = frame.timestamp
        # What aiortc's own sender reports (RTCP SR) must describe what was sent.
        report = self._report
        report[_NTP], report[_RTP_TIMESTAMP] = ntp, timestamp
        report[_PACKETS], report[_OCTETS] = self.packets, self.octets

    def _send_through(self, payloads: list[bytes], timestamp: int, transport: Any) -> int:
        """The same through the ``protect`` callable and the transport's ``sendto`` (a TURN
        relay's transport, a session or transport of another kind)."""
        protect = self._protect or _unprotected
        sequence, history, addr, pt = self._sequence, self._history, self._addr, self._payload_type
        last, octets = len(payloads) - 1, 0
        for i, payload in enumerate(payloads):
            data = protect(
                _RTP_HEADER.pack(
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

    def _bind(self, pair: Any) -> None:
        """The nominated pair is new: where packets go, and how directly."""
        self._pair, self._transport, self._addr = pair, pair.protocol.transport, pair.remote_addr
        # A TURN relay's transport has neither; it queues in aioice.
        self._backlog = getattr(self._transport, "get_write_buffer_size", _nothing)
        self._closing = getattr(self._transport, "is_closing", _false)
        self._sock_sendto, self._queued = _direct_socket(self._transport)

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


class _DirectSrtp:
    """A pylibsrtp session's C parts, to protect packets in its own buffer without a Python
    call per packet of its ``protect`` (which checks, allocates a length and copies the packet
    in and out). pylibsrtp 1.0.0's ``Session`` keeps the libsrtp context in ``_srtp``, a
    1,500-byte ``_cdata`` and its ``_buffer``; its ``protect`` uses the same buffer, on the same
    thread, and each use copies its packet out before returning, so they can share it."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self._session = session  # keeps the context alive
        buffer = session._buffer
        self.parts = (
            lib.srtp_protect,
            session._srtp[0],
            session._cdata,
            buffer,
            ffi.new("int *"),
            len(buffer) - 12 - pylibsrtp.SRTP_MAX_TRAILER_LEN,  # room for a payload
        )

    @classmethod
    def of(cls, protect: Callable[[bytes], bytes]) -> _DirectSrtp | None:
        """For a pylibsrtp session's own ``protect``; None for any other callable."""
        session = getattr(protect, "__self__", None)
        if isinstance(session, pylibsrtp.Session) and all(
            hasattr(session, name) for name in ("_srtp", "_cdata", "_buffer")
        ):
            return cls(session)
        return None


def _direct_socket(transport: Any) -> tuple[Callable[[bytes, tuple[str, int]], int] | None, Any]:
    """For asyncio's own datagram transport (not connected to one address): its socket's
    ``sendto`` and the transport's queue of datagrams waiting for the socket (empty: sending
    on the socket directly is what the transport's ``sendto`` would do, less its checks)."""
    if (
        isinstance(transport, _DatagramTransport)
        and not transport.get_extra_info("peername")
        and isinstance(getattr(transport, "_buffer", None), deque)
    ):
        return transport._sock.sendto, transport._buffer
    return None, _UNKNOWN


_UNKNOWN = (True,)  # in place of a queue whose length cannot be seen: never empty


def _nothing() -> int:
    return 0


def _unprotected(data: bytes) -> bytes:
    raise AiortcInternalsChanged("a lean sender sent before its SRTP session was set")


def _false() -> bool:
    return False


def _later(timestamp: int, than: int) -> bool:
    """Whether an RTP timestamp comes after another (modulo 2^32, as RTP has it)."""
    return 0 < (timestamp - than) & 0xFFFFFFFF < 1 << 31


def _is_rtx(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.split("/")[1].lower() == "rtx"


def lean_sender(
    transceiver: RTCRtpTransceiver, hub: Hub, on_failed: Callable[[], None] = lambda: None
) -> LeanSender:
    """A viewer's transceiver sends the hub's frames through a lean sender. Call before the
    offer; the sender starts when the viewer's connection is up. ``on_failed`` is called
    (soon, not from inside the send) if sending to this viewer fails."""
    lean = LeanSender(hub, transceiver, on_failed)
    transceiver.sender.replaceTrack(lean.track)
    return lean


check_internals()
