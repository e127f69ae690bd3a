"""The seminar bench's participants: one load-generator process runs several of them.

Each participant joins over Sabaq's signaling, publishes a camera and a microphone from
pre-encoded loops, and answers the server's offers of everyone else's media (one peer connection
per source, as the server offers them), counting what arrives without decoding it. The teacher
gives every student the floor with camera while the room has no seminar mode; in a room that
has one (``welcome`` carries ``mode``), students publish at once and each viewer says what it
shows with ``view`` (every other camera as a tile, the teacher on the stage). A ``quality``
message switches a publisher between the small, thumbnail and full loops.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from bench.seminar_media import (
    Counter,
    Loop,
    LoopTrack,
    count_rtp_frames,
    count_without_decoding,
)
from streaming.aiortc_media import advertise_host_addresses


@dataclass(frozen=True)
class Role:
    """Who a participant is in the bench: their token, whether they teach, their sound."""

    token: str
    host: bool
    sound: str | None  # "tone", "silence" or None (muted)


@dataclass(frozen=True)
class Loops:
    small: Loop
    thumbnail: Loop
    full: Loop
    tone: Loop
    silence: Loop


@dataclass
class Participant:
    role: Role
    loops: Loops
    expected: int  # sources this participant should see
    ws: ClientWebSocketResponse | None = None
    id: str | None = None
    seminar: bool = False  # the server has a seminar mode (and so ``view``)
    mode: str | None = None  # the room's mode, once the server says
    media_state: bool = False  # the server takes ``media_state`` (roster shows microphones)
    publish_pc: RTCPeerConnection | None = None
    video: LoopTrack | None = None
    views: dict[str, RTCPeerConnection] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)
    stage: str | None = None
    granted: set[str] = field(default_factory=set)
    view_sent: bool = False
    errors: list[str] = field(default_factory=list)
    rtp_level: bool = False  # count frames from RTP headers (``count_rtp_frames``)
    # Breakout groups: each participant's group by source id, as the roster says (None: the
    # main room), and this participant's own.
    groups: dict[str, int | None] = field(default_factory=dict)

    async def send(self, kind: str, **fields: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    def seeing(self) -> int:
        """Sources whose camera frames have arrived."""
        return sum(1 for c in self.counters.values() if c.frames["video"])

    async def run(self, session: ClientSession, url: str) -> None:
        self.ws = await session.ws_connect(url)
        await self.send("join", token=self.role.token)
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                return
            doc = json.loads(msg.data)
            try:
                await self.handle(doc)
            except Exception as exc:  # noted and shown in the table's notes, never fatal
                self.note(f"handling {doc.get('type')}: {exc!r}")

    async def handle(self, doc: dict[str, Any]) -> None:
        kind = doc["type"]
        if kind == "welcome":
            self.id = doc["participant_id"]
            self.seminar = "mode" in doc
            self.mode = doc.get("mode")
            self.media_state = any("microphone" in e for e in doc["roster"])
            if self.role.host or self.mode == "seminar":
                await self.publish()
            if self.role.host:
                await self.grant_floors(doc["roster"])
        elif kind == "mode":
            self.mode = doc.get("mode")
        elif kind == "roster":
            self.groups = {e["id"]: e.get("group") for e in doc["participants"]}
            if self.role.host:
                await self.grant_floors(doc["participants"])
        elif kind == "floor_granted" and doc.get("camera") and self.publish_pc is None:
            await self.publish()
        elif kind == "answer" and self.publish_pc is not None:
            answer = RTCSessionDescription(doc["sdp"], "answer")
            await self.publish_pc.setRemoteDescription(answer)
        elif kind == "offer":
            await self.watch(doc)
        elif kind == "quality" and self.video is not None:
            level = doc.get("level")
            if level in ("small", "thumbnail", "full"):
                self.video.set_level(level)
        elif kind == "error":
            self.note(f"{doc.get('code')}: {doc.get('message')}")

    def note(self, error: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(error)

    async def grant_floors(self, roster: list[dict[str, Any]]) -> None:
        """Without a seminar mode, every student gets the floor with camera: all publish."""
        if self.mode == "seminar":
            return
        for entry in roster:
            if entry["role"] != "host" and not entry["floor"] and entry["id"] not in self.granted:
                self.granted.add(entry["id"])
                await self.send("grant_floor", participant_id=entry["id"], camera=True)

    async def publish(self) -> None:
        pc = self.publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        loops = self.loops
        # The teacher starts at full quality (the lecture's main picture); ``quality`` rules.
        self.video = LoopTrack(
            "video",
            {"small": loops.small, "thumbnail": loops.thumbnail, "full": loops.full},
            "full" if self.role.host else "thumbnail",
        )
        sound = {"tone": loops.tone, "silence": loops.silence}.get(self.role.sound or "")
        sender = pc.addTrack(self.video)
        # aiortc ignores keyframe requests for pre-encoded frames; a browser answers them.
        sender._send_keyframe = self.video.keyframe  # type: ignore[method-assign]
        pc.addTrack(LoopTrack("audio", {"thumbnail": sound} if sound else None, "thumbnail"))
        await pc.setLocalDescription(await pc.createOffer())
        await self.send("publish", sdp=pc.localDescription.sdp, tracks=["camera", "microphone"])
        if self.role.sound is None and self.media_state:
            await self.send("media_state", microphone=False, camera=True)

    async def watch(self, doc: dict[str, Any]) -> None:
        source = doc["source"]
        old = self.views.pop(source, None)
        if old is not None:
            await old.close()
        pc = self.views[source] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if doc.get("source_role") == "host":
            self.stage = source
        await pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "offer"))
        counter = self.counters.setdefault(source, Counter())
        if self.rtp_level:
            count_rtp_frames(pc, counter)
        else:
            count_without_decoding(pc, counter)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send("answer", sdp=pc.localDescription.sdp, offer_id=doc["offer_id"])
        await self.send_view()

    async def send_view(self) -> None:
        """Once every source is offered: every other camera a tile, the teacher on the stage
        (the teacher's own stage stays empty)."""
        if not self.seminar or self.view_sent or len(self.views) < self.expected:
            return
        self.view_sent = True
        stage = None if self.role.host else self.stage
        await self.send("view", tiles=sorted(self.views), stage=stage)

    def mates(self) -> list[str]:
        """The sources in this participant's breakout group (everyone, without groups)."""
        mine = self.groups.get(self.id or "")
        return [s for s in self.counters if self.groups.get(s) == mine]

    def snapshot(self) -> dict[str, tuple[int, int, int, int]]:
        return {s: c.snapshot() for s, c in self.counters.items()}

    async def close(self) -> None:
        for pc in [*self.views.values(), *([self.publish_pc] if self.publish_pc else [])]:
            await pc.close()
        if self.ws is not None:
            await self.ws.close()


RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes; a browser's socket holds more than Linux's default


def _large_receive_buffers() -> None:
    """Every UDP socket of this process gets a large receive buffer: on a busy machine a
    load-generator process may wait its turn for the CPU longer than Linux's default buffer
    (about 170 packets) lasts, and aiortc's jitter buffer stalls a tile on a lost packet."""
    loop = asyncio.get_running_loop()
    create = loop.create_datagram_endpoint

    async def with_buffer(*args: Any, **kwargs: Any) -> Any:
        transport, protocol = await create(*args, **kwargs)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        return transport, protocol

    loop.create_datagram_endpoint = with_buffer  # type: ignore[method-assign]


def participants_process(
    url: str,
    roles: list[Role],
    loops: Loops,
    expected: int,
    conn: Connection,
    rtp_level: bool = False,
) -> None:
    """A load-generator process: its participants, driven by the bench over ``conn``
    ("ready" when every participant sees every source; then maybe "breakout:N", which has the
    teacher split the class into N breakout groups; then "start" and "stop")."""

    async def main() -> None:
        advertise_host_addresses(["127.0.0.1"])
        _large_receive_buffers()
        people = [Participant(r, loops, expected, rtp_level=rtp_level) for r in roles]
        loop = asyncio.get_running_loop()
        async with ClientSession() as session:
            tasks = [asyncio.create_task(p.run(session, url)) for p in people]
            orders = loop.run_in_executor(None, conn.recv)  # orders never block the media
            while not orders.done() and any(p.seeing() < expected for p in people):
                await asyncio.sleep(0.2)
            if not orders.done():
                conn.send("ready")
            order = await orders
            if order.startswith("breakout:"):  # the teacher splits the class, before the window
                for p in people:
                    if p.role.host:
                        count = int(order.split(":")[1])
                        await p.send("open_breakout", count=count, seconds=3600, late="place")
                order = await loop.run_in_executor(None, conn.recv)
            assert order == "start"
            before = [p.snapshot() for p in people]
            t0, cpu0 = time.monotonic(), time.process_time()
            assert await loop.run_in_executor(None, conn.recv) == "stop"
            elapsed = time.monotonic() - t0
            cpu = (time.process_time() - cpu0) / elapsed
            after = [p.snapshot() for p in people]
            conn.send(
                [
                    {
                        "process_cpu": cpu / len(people),  # this process's share, per person
                        "host": p.role.host,
                        "stage": None if p.role.host else p.stage,
                        "views": len(p.views),
                        "seen": p.seeing(),
                        "mates": p.mates(),
                        "errors": p.errors,
                        "sources": {
                            s: [
                                (b - a) / elapsed
                                for a, b in zip(b0.get(s, (0,) * 4), v, strict=True)
                            ]
                            for s, v in b1.items()
                        },
                    }
                    for p, b0, b1 in zip(people, before, after, strict=True)
                ]
            )
            for t in tasks:
                t.cancel()
            for p in people:
                await p.close()

    asyncio.run(main())
