"""The processes of ``bench.cascade``: a media node (origin or relay), the publisher's tracks
that note when each video frame leaves, and the probe viewers that note when each arrives.

A media node is what ``tests/integration/streaming/test_cascade.py`` wires in-process — a
``MediaNode`` with ``AiortcBackend`` behind the signaling app, on a loopback port — one per
process. A relay node links to the origin with ``Cascade(node).relay`` when the bench tells it.

A probe viewer takes the full aiortc receive path up to SRTP (its RTP is decrypted, unlike the
load processes' viewers, which count packets off the socket), so the VP8 payload of each
frame's last packet (marker bit) can be read: its CRC names the frame of the publisher's loop
(``frame_names``), and its arrival time is noted. Nothing is decoded.
"""

from __future__ import annotations

import asyncio
import os
import time
import zlib
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
from aiohttp import ClientSession, web
from aiortc import MediaStreamTrack, RTCPeerConnection
from av.stream import Stream

from access.models import ClassRole
from access.tokens import TokenSigner
from bench.fanout import Viewer, _join, _publisher, watch
from bench.seminar_media import VIDEO_CLOCK, Counter, Loop, LoopTrack, count_without_decoding
from bench.vs_janus import Stream as EncodedStream
from bench.vs_janus import _pack, _packer
from streaming.aiortc_media import AiortcBackend, AiortcPublisher, advertise_host_addresses
from streaming.cascade import Cascade
from streaming.events import MediaEvent
from streaming.node import MediaNode, MediaSettings
from streaming.signaling import NODE_KEY, create_signaling_app
from streaming.stats import ForwardTally

CLASS_ID = 1


# -- a media node ---------------------------------------------------------------------------------
class _Discard:
    """The node's event sink: attendance is not what this bench measures."""

    async def deliver(self, event: MediaEvent) -> None:
        return None

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        return None

    async def heartbeat(self, node: str, at: float) -> None:
        return None

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        return None


def _hubs(node: MediaNode) -> list[Any]:
    room = node.rooms.get(CLASS_ID)
    if room is None:
        return []
    out = []
    for p, name in room.sources():
        media = p.publications[name].media
        if isinstance(media, AiortcPublisher):
            out.extend(media.hubs)
    return out


def counts(node: MediaNode, backend: AiortcBackend) -> dict[str, int]:
    """What the node sent its viewers (RTP packets, all its senders, closed ones included),
    the frames that came in over a relay link, and its viewers."""
    tallies: dict[int, ForwardTally] = {id(backend.tally): backend.tally}
    link_frames = 0
    room = node.rooms.get(CLASS_ID)
    mirrored = {id(h) for p in (room.mirrored.values() if room else ()) for h in _of(p)}
    for hub in _hubs(node):
        tallies.setdefault(id(hub.tally), hub.tally)  # one tally per backend, however many hubs
        if id(hub) in mirrored:
            link_frames += hub.frames
    # The viewers whose media this node serves: its own, not the relays' (in the origin's room,
    # their sockets piped there), and on a relay those it pipes.
    own = room.participants.values() if room else ()
    viewers = sum(p.role is ClassRole.LEARNER and p.backend is None for p in own)
    relayed = node.relays.get(CLASS_ID)
    viewers += relayed.viewers if relayed is not None else 0
    packets = sum(t.counts().packets for t in tallies.values())
    return {"packets": packets, "link_frames": link_frames, "viewers": viewers}


def _of(p: Any) -> list[Any]:
    return [h for pub in p.publications.values() for h in getattr(pub.media, "hubs", [])]


async def _linked(cascade: Cascade, node: MediaNode, origin_url: str) -> None:
    link = cascade.relay(CLASS_ID, origin_url)
    async with asyncio.timeout(60):
        await link.connected.wait()
        while not any(h.kind == "video" and h.frames for h in _hubs(node)):
            await asyncio.sleep(0.05)


def media_node(name: str, secret: bytes, conn: Connection) -> None:
    """One media node in this process; it answers the bench's orders over ``conn``:
    ``("relay", origin_url)``, ``("counts",)``, ``("end",)``."""

    async def main() -> None:
        advertise_host_addresses(["127.0.0.1"])
        backend = AiortcBackend()
        node = MediaNode(MediaSettings(node_id=name), TokenSigner(secret), _Discard(), backend)
        await node.start()
        app = create_signaling_app()
        app[NODE_KEY] = node
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        conn.send({"pid": os.getpid(), "url": f"http://127.0.0.1:{port}/"})
        cascade = Cascade(node)
        loop = asyncio.get_running_loop()
        while (order := await loop.run_in_executor(None, conn.recv))[0] != "end":
            if order[0] == "relay":
                await _linked(cascade, node, order[1])
                conn.send("linked")
            elif order[0] == "counts":
                conn.send(counts(node, backend))
        await cascade.stop()
        await node.close()
        await runner.cleanup()

    asyncio.run(main())


def join_tokens(secret: bytes, url: str, first_user: int, count: int, role: ClassRole) -> list[str]:
    signer = TokenSigner(secret)
    return [
        signer.mint_join(
            user_id=first_user + i,
            class_id=CLASS_ID,
            role=role,
            display_name=f"u{first_user + i}",
            media_url=url,
            ttl=3600,
        )
        for i in range(count)
    ]


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + f"classes/{CLASS_ID}/ws"


# -- the publisher's side: when each video frame leaves ---------------------------------------
class _NotedTrack(LoopTrack):
    """A ``LoopTrack`` that notes, for each frame it hands to aiortc's sender, the frame's
    index in the loop and ``time.monotonic()`` (one line per frame, in ``path``)."""

    def __init__(self, loop: Loop, path: Path) -> None:
        super().__init__("video", {"full": loop}, "full")
        self._length = len(loop.frames)
        self._out = path.open("a", buffering=1)

    async def recv(self) -> av.Packet[Stream]:
        packet = await super().recv()
        self._out.write(f"{(self._i - 1) % self._length} {time.monotonic():.6f}\n")
        return packet


class NotedTracks:
    """The publisher's tracks, made in its process: the stream's video (noted) and audio."""

    def __init__(self, stream: EncodedStream, path: Path) -> None:
        self.stream = stream
        self.path = path

    def __call__(self) -> list[MediaStreamTrack]:
        return [
            _NotedTrack(self.stream.video, self.path),
            LoopTrack("audio", {"full": self.stream.audio}, "full"),
        ]


def publish(url: str, token: str, tracks: NotedTracks, conn: Connection) -> None:
    """``bench.fanout``'s publisher with these tracks."""
    _publisher(url, token, conn, tracks)


def read_sent(path: Path) -> list[tuple[int, float]]:
    out = []
    with path.open() as f:
        for line in f:
            index, at = line.split()
            out.append((int(index), float(at)))
    return out


def _vp8_data(payload: bytes) -> bytes:
    """A VP8 RTP payload less its descriptor (RFC 7741), whose picture id is each node's own."""
    i = 1
    if payload[0] & 0x80:
        x, i = payload[1], 2
        if x & 0x80:
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:
            i += 1
        if x & 0x30:
            i += 1
    return payload[i:]


def frame_names(loop: Loop) -> dict[tuple[int, int], int]:
    """(CRC, length) of each loop frame's last RTP payload's VP8 data → the frame's index, as
    any node's hub packetizes it (aiortc's packetizer). Frames whose names clash are left out."""
    packer = _packer("video/VP8", 90000)
    names: dict[tuple[int, int], int] = {}
    clashes = set()
    for i, frame in enumerate(loop.frames):
        payloads, _ = _pack(packer, frame, i, VIDEO_CLOCK)
        data = _vp8_data(payloads[-1])
        key = (zlib.crc32(data), len(data))
        if key in names:
            clashes.add(key)
        names[key] = i
    return {k: v for k, v in names.items() if k not in clashes}


# -- the probe viewers: when each video frame arrives ---------------------------------------------
Arrival = tuple[int, int, float]  # the probe's node, the frame's index in the loop, when


def _rtp_payload(data: bytes) -> bytes:
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:  # a header extension
        offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)  # padding
    return data[offset:end]


def _noting(node: int, names: dict[tuple[int, int], int], arrivals: list[Arrival]) -> Any:
    """A ``watch`` tap: nothing decoded; each whole video frame's arrival noted."""

    def tap(viewer: Viewer, pc: RTCPeerConnection) -> None:
        count_without_decoding(pc, Counter())
        video_pt = {
            c.payloadType
            for t in pc.getTransceivers()
            if t.kind == "video"
            for c in t._codecs
            if c.mimeType.lower() == "video/vp8"
        }
        dtls = pc.getTransceivers()[0].receiver.transport
        handle = dtls._handle_rtp_data

        async def noted(data: bytes, arrival_time_ms: int) -> None:
            if data[1] & 0x80 and data[1] & 0x7F in video_pt:  # a video frame's last packet
                vp8 = _vp8_data(_rtp_payload(data))
                index = names.get((zlib.crc32(vp8), len(vp8)))
                if index is not None:
                    arrivals.append((node, index, time.monotonic()))
            await handle(data, arrival_time_ms)

        dtls._handle_rtp_data = noted  # type: ignore[method-assign]

    return tap


def probes(
    names: dict[tuple[int, int], int], phases: list[list[tuple[int, str, str]]], conn: Connection
) -> None:
    """Probe viewers, phase by phase (each ``(node, WebSocket URL, join token)``), as the load
    processes of ``bench.vs_janus`` are: "ready" once each has had a frame, then the frames'
    arrivals between "start" and "stop"."""

    async def main() -> None:
        advertise_host_addresses(["127.0.0.1"])
        loop = asyncio.get_running_loop()
        arrivals: list[Arrival] = []
        nodes: set[int] = set()
        tasks = []
        async with ClientSession() as session:
            for phase in phases:
                for node, url, token in phase:
                    viewer = Viewer(await _join(session, url, token))
                    tap = _noting(node, names, arrivals)
                    tasks.append(asyncio.create_task(watch(viewer, tap)))
                    nodes.add(node)
                try:
                    async with asyncio.timeout(90):
                        while nodes - {a[0] for a in arrivals}:
                            await asyncio.sleep(0.1)
                except TimeoutError:
                    missing = sorted(nodes - {a[0] for a in arrivals})
                    conn.send(f"the probes of nodes {missing} got no whole video frame")
                    return
                conn.send("ready")
                assert await loop.run_in_executor(None, conn.recv) == "start"
                arrivals.clear()
                assert await loop.run_in_executor(None, conn.recv) == "stop"
                conn.send(list(arrivals))
            await loop.run_in_executor(None, conn.recv)  # the end
            for task in tasks:
                task.cancel()

    asyncio.run(main())
