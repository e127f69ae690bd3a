"""The fan-out path: encoded frames forwarded as they are, bounded per-viewer queues, keyframe
requests coalesced and passed to the publisher — and a loud failure if aiortc changes."""

from __future__ import annotations

import asyncio
import functools
import socket as net
from dataclasses import dataclass, field
from typing import Any

import aiortc
import pylibsrtp
import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection

from streaming import aiortc_forward
from streaming.aiortc_forward import Hub, lean_sender
from streaming.aiortc_media import AiortcPublisher
from streaming.forward_hub import KEYFRAME_REQUEST_INTERVAL, VIDEO_QUEUE, is_keyframe
from tests.conftest import Academy, SignIn
from tests.peers import join, publish
from web.core import keys

VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A])  # P bit 0: a key frame
VP8_DELTA = bytes([0x31, 0x02, 0x00])  # P bit 1


async def test_aiortc_internals_are_the_ones_we_rely_on() -> None:
    """If this fails, aiortc was upgraded: re-read streaming/aiortc_forward.py before pinning."""
    assert aiortc.__version__ == aiortc_forward.AIORTC_VERSION
    aiortc_forward.check_internals()
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    assert hasattr(transceiver.receiver, "_RTCRtpReceiver__decoder_queue")
    assert hasattr(transceiver, "_codecs")
    await pc.close()


def test_internals_check_fails_loudly_on_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with pytest.raises(aiortc_forward.AiortcInternalsChanged, match="re-check"):
        aiortc_forward.check_internals()


def test_keyframe_detection() -> None:
    assert is_keyframe("video/VP8", VP8_KEY)
    assert not is_keyframe("video/VP8", VP8_DELTA)
    assert is_keyframe("video/H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65\x88")
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert not is_keyframe("video/VP8", b"")


@dataclass
class Source:
    source: int


@dataclass
class PublisherReceiver:
    """Stands in for aiortc's receiver (below the code under test): records PLIs sent."""

    plis: list[int] = field(default_factory=list)

    def getSynchronizationSources(self) -> list[Source]:
        return [Source(1234)]

    async def _send_rtcp_pli(self, ssrc: int) -> None:
        self.plis.append(ssrc)


async def test_viewer_waits_for_a_keyframe_and_a_stalled_viewer_skips_to_the_next() -> None:
    receiver = PublisherReceiver()
    hub = Hub("video", "video/VP8", 90000, receiver)  # type: ignore[arg-type]
    fast, stalled = hub.subscribe(), hub.subscribe()
    await asyncio.sleep(0)
    assert receiver.plis == [1234]  # two joins at once: one keyframe request now
    hub.on_frame(VP8_DELTA, 0)  # nobody can start from a delta frame
    hub.on_frame(VP8_KEY, 3000)
    assert (await fast.recv()).pts == 3000
    for i in range(VIDEO_QUEUE + 5):  # the fast viewer keeps up, the stalled one never reads
        hub.on_frame(VP8_DELTA, 6000 + i * 3000)
        assert (await fast.recv()).pts == 6000 + i * 3000
    # The stalled viewer overflowed: its queue was dropped, it waits for a keyframe.
    assert stalled.dropped > VIDEO_QUEUE
    hub.on_frame(VP8_DELTA, 999_000)
    hub.on_frame(VP8_KEY, 1_002_000)
    got = await asyncio.wait_for(stalled.recv(), 1)
    assert got.pts == 1_002_000 and bytes(got) == VP8_KEY
    assert float(got.time_base) == 1 / 90000
    # A flood of keyframe requests from viewers becomes one PLI per interval.
    hub._last_request = 0.0
    for _ in range(50):
        hub.request_keyframe()
    await asyncio.sleep(0)
    assert len(receiver.plis) == 2
    # ...and those that came too soon are not lost: one more goes at the end of the interval.
    await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL + 0.1)
    assert len(receiver.plis) == 3
    hub.close()
    fast.stop()
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await fast.recv()
    assert fast not in hub.viewers


class ViewerSocket:
    """Stands in for the viewer's datagram transport (below the code under test)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.backlog = 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        assert addr == ("127.0.0.1", 5000)
        self.sent.append(data)

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return False


@dataclass
class Protocol:
    transport: Any


@dataclass
class Pair:
    protocol: Protocol
    remote_addr: tuple[str, int] = ("127.0.0.1", 5000)


def srtp_pair() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    key = bytes(range(30))
    tx = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    rx = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    return pylibsrtp.Session(tx), pylibsrtp.Session(rx)


def rtp(data: bytes) -> tuple[bool, int, int, int, int, bytes]:
    """marker, payload type, sequence number, timestamp, SSRC, payload"""
    return (
        bool(data[1] & 0x80),
        data[1] & 0x7F,
        int.from_bytes(data[2:4], "big"),
        int.from_bytes(data[4:8], "big"),
        int.from_bytes(data[8:12], "big"),
        data[12:],
    )


async def test_lean_sender_rewrites_protects_and_sends_each_packet_once() -> None:
    publisher = PublisherReceiver()
    hub = Hub("video", "video/VP8", 90000, publisher)  # type: ignore[arg-type]
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    lean = lean_sender(transceiver, hub)
    assert transceiver.sender.track is lean.track
    # A keyframe of three packets' worth, then a delta frame.
    key = VP8_KEY + bytes(3000)
    hub.on_frame(key, 90_000)
    hub.on_frame(VP8_DELTA, 93_000)
    tx, rx = srtp_pair()
    socket, pairs = ViewerSocket(), {1: Pair(Protocol(ViewerSocket()))}
    pairs[1].protocol.transport = socket
    lean.connect(tx.protect, pairs, 96)  # the viewer's connection is up: it starts at once
    packets = [rtp(rx.unprotect(d)) for d in socket.sent]
    assert len(packets) == 4
    assert [p[0] for p in packets] == [False, False, True, True]  # marker: a frame's end
    assert {p[1] for p in packets} == {96} and {p[4] for p in packets} == {lean._ssrc}
    seqs = [p[2] for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(4)]
    assert packets[0][3] == packets[2][3] and (packets[3][3] - packets[0][3]) % 2**32 == 3000
    # The VP8 payload descriptor (with the picture id) is followed by the frame, intact.
    assert b"".join(p[5][4:] for p in packets[:3]) == key and packets[3][5][4:] == VP8_DELTA
    # aiortc's own sender reports describe what was sent.
    assert transceiver.sender._RTCRtpSender__packet_count == 4  # type: ignore[attr-defined]
    # A NACK gets the very packet again.
    await transceiver.sender._retransmit(seqs[1])
    assert socket.sent[-1] == socket.sent[1] and lean.retransmitted == 1
    await transceiver.sender._retransmit((seqs[0] - 5) & 0xFFFF)  # never sent: nothing
    assert lean.retransmitted == 1
    # A viewer's keyframe request goes to the publisher, coalesced.
    hub._last_request = 0.0
    transceiver.sender._send_keyframe()
    await asyncio.sleep(0)
    assert publisher.plis[-1] == 1234
    # A viewer whose socket backs up skips frames, then waits for a keyframe it asks for.
    requests = len(publisher.plis)
    socket.backlog = 10**6
    hub.on_frame(VP8_DELTA, 96_000)
    assert len(socket.sent) == 5 and lean.dropped == 1
    socket.backlog = 0
    hub._last_request = 0.0
    hub.on_frame(VP8_DELTA, 99_000)  # drained: a keyframe is asked for, deltas are skipped
    await asyncio.sleep(0)
    assert len(publisher.plis) == requests + 1 and len(socket.sent) == 5
    hub.on_frame(VP8_KEY, 102_000)
    marker, _, seq, _, _, _ = rtp(rx.unprotect(socket.sent[-1]))
    assert marker and seq == (seqs[-1] + 1) & 0xFFFF  # no gap in sequence numbers
    # The viewer's connection goes: the sender leaves the hub, its aiortc sender's track ends.
    pairs.clear()
    hub.on_frame(VP8_DELTA, 105_000)
    assert lean not in hub.senders and lean.track.readyState == "ended"
    await pc.close()


async def test_lean_sender_puts_packets_on_the_socket_itself_until_asyncio_queues() -> None:
    """asyncio's own datagram transport and a pylibsrtp session: packets are protected in the
    session's buffer and sent on the socket directly; once the transport has datagrams queued,
    the next go behind them, in order. NACKs and sender reports work the same."""
    loop = asyncio.get_running_loop()
    viewer = net.socket(net.AF_INET, net.SOCK_DGRAM)
    viewer.bind(("127.0.0.1", 0))
    viewer.setblocking(False)
    transport: Any
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    hub = Hub("video", "video/VP8", 90000, PublisherReceiver())  # type: ignore[arg-type]
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    lean = lean_sender(transceiver, hub)
    tx, rx = srtp_pair()
    lean.connect(tx.protect, {1: Pair(Protocol(transport), viewer.getsockname())}, 96)
    assert lean._sock_sendto is None  # not yet bound: bound at the first frame
    key = VP8_KEY + bytes(3000)
    hub.on_frame(key, 90_000)
    assert lean._sock_sendto is not None and lean._srtp is not None  # the direct path
    sent = [viewer.recv(2000) for _ in range(3)]
    first = [rtp(rx.unprotect(d)) for d in sent]
    assert [p[0] for p in first] == [False, False, True] and {p[4] for p in first} == {lean._ssrc}
    assert b"".join(p[5][4:] for p in first) == key
    # Something queued in asyncio (as when the socket was full): the frame goes behind it.
    transport._buffer.append((b"queued first", viewer.getsockname()))
    hub.on_frame(VP8_DELTA, 93_000)
    with pytest.raises(BlockingIOError):
        viewer.recv(2000)  # nothing overtook the queued datagram
    transport._sendto_ready()  # the socket is writable again
    assert viewer.recv(2000) == b"queued first"
    marker, _, seq, stamp, _, payload = rtp(rx.unprotect(viewer.recv(2000)))
    assert marker and seq == (first[-1][2] + 1) & 0xFFFF and payload[4:] == VP8_DELTA
    assert (stamp - first[0][3]) % 2**32 == 3000
    # The sender report counters and a NACK, as on the other path.
    sender: Any = transceiver.sender
    assert sender._RTCRtpSender__packet_count == 4 == lean.packets
    assert sender._RTCRtpSender__octet_count == lean.octets
    assert sender._RTCRtpSender__rtp_timestamp == (stamp + 0) % 2**32
    await sender._retransmit(first[1][2])
    assert viewer.recv(2000) == sent[1] and lean.retransmitted == 1  # the very packet
    transport.close()
    viewer.close()
    await pc.close()


class RelaySocket:
    """A TURN relay's transport, as aioice has it: only ``sendto``."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append(data)


def broken_protect(data: bytes) -> bytes:
    raise pylibsrtp.Error("cannot protect")


async def test_one_viewer_failing_does_not_disturb_the_others() -> None:
    hub = Hub("audio", "audio/opus", 48000, PublisherReceiver())  # type: ignore[arg-type]
    pc = RTCPeerConnection()
    sockets: list[Any] = [RelaySocket(), ViewerSocket(), ViewerSocket()]
    failed: list[int] = []
    senders = []
    for n, socket in enumerate(sockets):
        lean = lean_sender(
            pc.addTransceiver("audio", direction="sendonly"),
            hub,
            functools.partial(failed.append, n),
        )
        protect = broken_protect if n == 1 else srtp_pair()[0].protect
        lean.connect(protect, {1: Pair(Protocol(socket))}, 111)
        senders.append(lean)
    hub.on_frame(b"\xfc\xff\xfe", 960)
    hub.on_frame(b"\xfc\xff\xfe", 1920)
    assert len(sockets[0].sent) == 2 and len(sockets[2].sent) == 2
    assert senders[1] not in hub.senders and senders[1].track.readyState == "ended"
    await asyncio.sleep(0)
    assert failed == [1]  # the room is told, so the page reconnects instead of freezing
    await pc.close()


async def test_server_forwards_without_decoding(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    viewers = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:3]]
    for v in viewers:
        await v.wait_frames(15)
        assert v.audio_frames > 0
    room = served.app[keys.MEDIA_NODE].rooms[academy.class_id]
    host = room.host
    assert host is not None and isinstance(host.publisher, AiortcPublisher)
    hubs = host.publisher.hubs
    assert {h.kind for h in hubs} == {"video", "audio"}
    assert all(h.frames > 0 for h in hubs)
    assert all(len(h.senders) == 3 for h in hubs)
    # Nothing was decoded on the server: the publisher's remote tracks never got a frame.
    for receiver in host.publisher.pc.getReceivers():
        assert receiver.track._queue.qsize() == 0  # type: ignore[attr-defined]
    # Every viewer got its packets through a lean sender.
    senders = [s for h in hubs for s in h.senders]
    assert all(s.packets > 0 for s in senders)
    for p in (*viewers, teacher):
        await p.close()
