"""The test plays the browser: real aiortc peer connections speaking Sabaq's signaling."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
from dataclasses import dataclass, field
from typing import Any

import av
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack

from streaming.node import MediaNode
from tests.conftest import Client


class MovingVideo(VideoStreamTrack):
    """A 320x240 picture that changes every frame, so the encoder has work to do."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=320, height=240, format="yuv420p")
        edge = (self._n * 7) % 320
        row = bytes([200]) * edge + bytes([30]) * (320 - edge)
        y, u, v = frame.planes
        y.update(row * 240)
        u.update(bytes([128]) * (u.buffer_size))
        v.update(bytes([128]) * (v.buffer_size))
        self._n += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tone(MediaStreamTrack):
    """A 440 Hz tone at 48 kHz, 20 ms a frame: a voice that can be told from silence."""

    kind = "audio"

    def __init__(self, loud: bool = True) -> None:
        super().__init__()
        self._n = 0
        self._start: float | None = None
        self.loud = loud  # else silence, as from a microphone in a quiet room
        period = [int(12000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(960)]
        self._pcm = b"".join(v.to_bytes(2, "little", signed=True) for v in period)

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        await asyncio.sleep(max(0.0, self._start + self._n * 0.02 - loop.time()))
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._pcm if self.loud else bytes(len(self._pcm)))
        frame.sample_rate = 48000
        frame.pts = self._n * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self._n += 1
        return frame


def pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def join_token(client: Client, class_id: int) -> dict[str, Any]:
    resp = await client.post(
        f"/classes/{class_id}/join-token", headers={"Accept": "application/json"}
    )
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


def ws_url(client: Client, class_id: int) -> str:
    return str(client.make_url(f"/media/classes/{class_id}/ws")).replace("http://", "ws://")


@dataclass
class Peer:
    """One participant: a WebSocket, maybe a peer connection, and what arrived."""

    ws: ClientWebSocketResponse
    session: ClientSession
    messages: list[dict[str, Any]] = field(default_factory=list)
    pc: RTCPeerConnection | None = None  # the one it publishes with
    watching: dict[str, RTCPeerConnection] = field(default_factory=dict)  # source → pc
    frames: int = 0
    audio_frames: int = 0
    audio_by_source: dict[str, int] = field(default_factory=dict)
    video_by_source: dict[str, int] = field(default_factory=dict)
    frames_by_label: dict[str, int] = field(default_factory=dict)
    closed_code: int | None = None
    _reader: asyncio.Task[None] | None = None
    _sinks: list[asyncio.Task[None]] = field(default_factory=list)
    _new_message: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def participant_id(self) -> str:
        """Its id in the room, as its first welcome said."""
        return str(next(m for m in self.messages if m["type"] == "welcome")["participant_id"])

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    async def ask_keyframe(self, source: str) -> None:
        """Its browser asks for a keyframe of the source's video (an RTCP PLI, as aiortc's
        receiver sends it)."""
        conn = self.watching[source]
        (receiver,) = [t.receiver for t in conn.getTransceivers() if t.kind == "video"]
        (ssrc,) = [s.source for s in receiver.getSynchronizationSources()]
        await receiver._send_rtcp_pli(ssrc)

    async def wait_for(self, kind: str, timeout: float = 10.0, after: int = 0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for m in self.messages[after:]:
                    if m["type"] == kind:
                        return m
                self._new_message.clear()
                await self._new_message.wait()

    async def wait_closed(self, timeout: float = 5.0) -> int:
        """The close code the server ended this connection with."""
        async with asyncio.timeout(timeout):
            while self.closed_code is None:
                self._new_message.clear()
                await self._new_message.wait()
        return self.closed_code

    async def wait_frames(self, n: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while self.frames < n:
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        for t in self._sinks:
            t.cancel()
        for conn in {*self.watching.values(), *([self.pc] if self.pc else [])}:
            await conn.close()
        await self.ws.close()
        if self._reader is not None:
            # An offer being answered as the connections closed fails: nothing to report.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.session.close()


async def _read(peer: Peer) -> None:
    async for msg in peer.ws:
        if msg.type is WSMsgType.TEXT:
            doc = json.loads(msg.data)
            peer.messages.append(doc)
            peer._new_message.set()
            if doc["type"] == "offer":
                await _answer(peer, doc["sdp"], doc["offer_id"], doc["source"], doc["tracks"])
    peer.closed_code = peer.ws.close_code
    peer._new_message.set()


async def _count(peer: Peer, track: MediaStreamTrack, source: str, label: str) -> None:
    while True:
        try:
            await track.recv()
        except Exception:
            return
        peer.frames_by_label[label] = peer.frames_by_label.get(label, 0) + 1
        if track.kind == "video":
            peer.frames += 1
            peer.video_by_source[source] = peer.video_by_source.get(source, 0) + 1
        else:
            peer.audio_frames += 1
            peer.audio_by_source[source] = peer.audio_by_source.get(source, 0) + 1


async def _answer(peer: Peer, sdp: str, offer_id: int, source: str, labels: list[str]) -> None:
    old = peer.watching.pop(source, None)
    if old is not None:
        await old.close()
    conn = peer.watching[source] = pc()

    @conn.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        index = [t.receiver.track for t in conn.getTransceivers()].index(track)
        label = labels[index] if index < len(labels) else track.kind
        peer._sinks.append(asyncio.create_task(_count(peer, track, source, label)))

    await conn.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await conn.setLocalDescription(await conn.createAnswer())
    await peer.send("answer", sdp=conn.localDescription.sdp, offer_id=offer_id)


async def connect(url: str, token: str | None) -> Peer:
    """Open the WebSocket and send the join message (when a token is given)."""
    session = ClientSession()
    try:
        ws = await session.ws_connect(url)
    except BaseException:
        await session.close()
        raise
    peer = Peer(ws=ws, session=session)
    peer._reader = asyncio.create_task(_read(peer))
    if token is not None:
        await peer.send("join", token=token)
    return peer


async def wait_gone(node: MediaNode, class_id: int, user_id: int, timeout: float = 5.0) -> None:
    """Until the media node no longer has the user in the class."""
    async with asyncio.timeout(timeout):
        while user_id in node.present_user_ids(class_id):
            await asyncio.sleep(0.02)


async def rejoin(client: Client, class_id: int, reconnect_token: str) -> Peer:
    """Come back after a drop with the reconnect token of the last welcome."""
    session = ClientSession()
    ws = await session.ws_connect(ws_url(client, class_id))
    peer = Peer(ws=ws, session=session)
    peer._reader = asyncio.create_task(_read(peer))
    await peer.send("rejoin", token=reconnect_token)
    return peer


def drop(peer: Peer) -> None:
    """The network goes away under the peer: no close frame, no goodbye."""
    conn = peer.ws._conn
    assert conn is not None and conn.transport is not None
    conn.transport.abort()


async def join(client: Client, class_id: int) -> Peer:
    grant = await join_token(client, class_id)
    peer = await connect(ws_url(client, class_id), grant["token"])
    await peer.wait_for("welcome")
    return peer


async def publish(
    peer: Peer, video: bool = True, screen: bool = False, sound: MediaStreamTrack | None = None
) -> None:
    """Publish a moving picture (unless ``video`` is false), a sound (silence unless given),
    and maybe a screen."""
    conn = peer.pc = pc()
    tracks = []
    if video:
        conn.addTrack(MovingVideo())
        tracks.append("camera")
    conn.addTrack(sound or AudioStreamTrack())
    tracks.append("microphone")
    if screen:
        conn.addTrack(MovingVideo())
        tracks.append("screen")
    await conn.setLocalDescription(await conn.createOffer())
    seen = len(peer.messages)
    await peer.send("publish", sdp=conn.localDescription.sdp, tracks=tracks)
    answer = await peer.wait_for("answer", after=seen)
    await conn.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
