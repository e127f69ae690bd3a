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
  ``__rtp_timestamp``, ``__packet_count``, ``__octet_count``, kept current so that sender
  reports (RTCP SR) let the browser line sound up with picture.
- ``RTCRtpSender._run_rtcp()`` (the sender's report loop, which ``send()`` starts), replaced
  per lean sender by one that reports less often and not while nothing is sent (a seminar
  has hundreds of senders), through ``_send_rtcp(packets)`` and with aiortc's
  ``__rtcp_started``, ``__rtcp_exited``, ``__cname``, ``__lsr`` and ``__lsr_time``.
- ``RTCRtpReceiver._RTCRtpReceiver__remote_bitrate_estimator``: a viewer's transceiver's
  receiver gets none (it receives no media); a publisher's video receiver keeps its own (the
  REMB to the publisher) with ``incoming_bitrate`` replaced by a ``rate_window.RateWindow``.
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
import logging
import queue
import random
import time
from asyncio import selector_events
from collections import deque
from collections.abc import Callable
from typing import Any

import aioice
import aiortc
import pylibsrtp
from aiortc import (
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import get_encoder
from aiortc.rate import RateCounter
from aiortc.rtp import RtcpByePacket, RtcpSdesPacket, RtcpSenderInfo, RtcpSourceInfo, RtcpSrPacket
from pylibsrtp._binding import ffi, lib

from .forward_hub import (
    RTP_HEADER,
    RTP_HISTORY,
    SEND_BUFFER_LIMIT,
    Frame,
    HubCore,
    SenderCore,
    never_closing,
)
from .rate_window import RateWindow
from .stats import ForwardTally

log = logging.getLogger("sabaq.streaming.forward")

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"
PYLIBSRTP_VERSION = "1.0.0"
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
_SENDER_REPORT_ATTRS = _NTP, _RTP_TIMESTAMP, _PACKETS, _OCTETS = tuple(
    f"_RTCRtpSender__{name}"
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
)
_RTCP_ATTRS = _RTCP_STARTED, _RTCP_EXITED, _CNAME, _LSR, _LSR_TIME = tuple(
    f"_RTCRtpSender__{name}" for name in ("rtcp_started", "rtcp_exited", "cname", "lsr", "lsr_time")
)
_DatagramTransport: Any = getattr(selector_events, "_SelectorDatagramTransport", None)
# A viewer's sender reports (RTCP SR): the first ones about every second, as aiortc sends them
# (the browser lines sound up with picture from two), then every 2.5-7.5 s, RFC 3550's 5 s
# minimum randomized; and none while a sender sends nothing (muted, held: RFC 3550 6.4).
SENDER_REPORT_INTERVAL = 5.0
FIRST_SENDER_REPORTS = 3


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
            (RTCRtpSender, "_run_rtcp"),
            (RTCRtpSender, "_send_rtcp"),
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


class Hub(HubCore):
    """``HubCore`` bound to a publisher's aiortc receiver: frames are packetized by aiortc's
    packetizer for the codec, keyframe requests go to the publisher as PLIs."""

    def __init__(
        self,
        kind: str,
        mime: str,
        clock_rate: int,
        receiver: RTCRtpReceiver,
        tally: ForwardTally | None = None,
    ) -> None:
        packer = get_encoder(
            RTCRtpCodecParameters(mimeType=mime, clockRate=clock_rate, payloadType=0)
        )
        super().__init__(kind, mime, clock_rate, packer, tally)
        self._receiver = receiver
        self._tasks: set[asyncio.Task[None]] = set()

    def _send_pli(self) -> None:
        for source in self._receiver.getSynchronizationSources():
            task = asyncio.ensure_future(self._receiver._send_rtcp_pli(source.source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


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
    estimator = getattr(receiver, _ESTIMATOR_ATTR, None)
    if estimator is not None:  # video: REMB to the publisher, on a lighter counter
        if not isinstance(getattr(estimator, "incoming_bitrate", None), RateCounter):
            raise AiortcInternalsChanged("aiortc's bitrate estimator has no incoming_bitrate")
        estimator.incoming_bitrate = RateWindow(1000, 8000)
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


class LeanSender(SenderCore):
    """Sends a hub's frames to one viewer through its aiortc sender's connection: RTP header
    rewrite, SRTP protect in the session's buffer, ``sendto`` on the socket (``SenderCore``
    says what is sent and when). aiortc's sender keeps its SSRC, its NACKs and keyframe
    requests come here, and its sender reports describe what was sent."""

    def __init__(
        self, hub: Hub, transceiver: RTCRtpTransceiver, on_failed: Callable[[], None]
    ) -> None:
        self._transceiver = transceiver
        self._sender = transceiver.sender
        super().__init__(hub, self._sender._ssrc, on_failed)
        self._srtp: _DirectSrtp | None = None
        self._sock_sendto: Callable[[bytes, tuple[str, int]], int] | None = None
        self._queued: Any = _UNKNOWN  # asyncio's queue of datagrams waiting for the socket
        self._nominated: dict[int, Any] = {}
        self._pair: Any = None
        self._backlog: Callable[[], int] = _nothing
        self._report: dict[str, Any] = vars(self._sender)  # its sender report's counters
        if not all(name in self._report for name in _SENDER_REPORT_ATTRS + _RTCP_ATTRS):
            raise AiortcInternalsChanged("RTCRtpSender has no sender report counters")
        self._sender._send_keyframe = self._keyframe_requested  # type: ignore[method-assign]
        self._sender._retransmit = self._retransmit  # type: ignore[method-assign]
        self._sender._run_rtcp = self._run_rtcp  # type: ignore[method-assign]
        # Its receiver (a viewer sends no media) needs no bitrate estimator.
        setattr(transceiver.receiver, _ESTIMATOR_ATTR, None)

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
                RTP_HEADER.pack_into,
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

    def _bind(self, pair: Any) -> None:
        """The nominated pair is new: where packets go, and how directly."""
        self._pair, self._transport, self._addr = pair, pair.protocol.transport, pair.remote_addr
        # A TURN relay's transport has neither; it queues in aioice.
        self._backlog = getattr(self._transport, "get_write_buffer_size", _nothing)
        self._closing = getattr(self._transport, "is_closing", never_closing)
        self._sock_sendto, self._queued = _direct_socket(self._transport)

    async def _run_rtcp(self) -> None:
        """In place of aiortc's sender's report loop: the same reports (SR and SDES; BYE at the
        end), at ``SENDER_REPORT_INTERVAL`` once the first few are out, none while nothing is
        sent. Each report sent costs a protect and a packet; a seminar has hundreds of senders."""
        sender, state = self._sender, self._report
        state[_RTCP_STARTED].set()
        reports, reported = 0, 0
        try:
            while True:
                interval = 1.0 if reports < FIRST_SENDER_REPORTS else SENDER_REPORT_INTERVAL
                await asyncio.sleep(interval * (0.5 + random.random()))  # noqa: S311
                if self.packets == reported:
                    continue
                reported, reports, ntp = self.packets, reports + 1, state[_NTP]
                info = RtcpSenderInfo(
                    ntp_timestamp=ntp,
                    rtp_timestamp=state[_RTP_TIMESTAMP],
                    packet_count=self.packets & 0xFFFFFFFF,
                    octet_count=self.octets & 0xFFFFFFFF,
                )
                packets: list[Any] = [RtcpSrPacket(ssrc=self._ssrc, sender_info=info)]
                state[_LSR], state[_LSR_TIME] = (ntp >> 16) & 0xFFFFFFFF, time.time()
                if state[_CNAME] is not None:
                    item = (1, state[_CNAME].encode("utf8"))
                    packets.append(RtcpSdesPacket(chunks=[RtcpSourceInfo(self._ssrc, [item])]))
                await sender._send_rtcp(packets)
        except asyncio.CancelledError:
            pass
        await sender._send_rtcp([RtcpByePacket(sources=[self._ssrc])])
        state[_RTCP_EXITED].set()


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
