"""Cascading (DESIGN.md, "Scale, in steps", step 4): one class over several media nodes.

A class has an origin node, where its publishers are, and relay nodes, each serving its own
viewers. The origin sends each published track's encoded frames once per relay; on the relay
the class is a room whose publications mirror the origin's (``Room.mirror``), fed into hubs of
its own, so its viewers are served by the same lean forwarding as the origin's.

The link between two nodes is one WebSocket per class and relay, opened by the relay to the
origin's signaling (``/classes/<id>/relay``), authenticated with a short-lived relay token
signed with the nodes' shared secret (``TokenSigner.mint_relay``). Not a WebRTC peer connection
per relay: hubs already hold whole encoded frames (reassembled, NACKs done by the origin's
receiver), and nodes are trusted and close (loopback, or the cluster's network), so SRTP,
ICE, DTLS, jitter buffers and RTCP between them would be work and latency for nothing. Over
TCP a frame is never lost, so a relay never asks for one again; what a slow link costs is
bounded by the backlog rule of the origin's in-process consumers (``ForwardedTrack``): a
track that falls a queue behind drops to the next keyframe and asks for it.

On the link:

- origin → relay, text: ``{"type": "sources", "sources": [...]}``, what is published now
  (each source's participant, publication name, labels, microphone and camera on, and one feed
  per track: id, kind, codec, clock rate), sent at the start and whenever it changes;
- origin → relay, binary: one frame of one feed: feed id and RTP timestamp (``!II``), then the
  encoded frame as the publisher sent it;
- origin → relay, text: ``{"type": "ended", "reason": ...}``, the class ended: the relay's
  room ends too (its people's departures recorded there, the class's end by the origin);
- relay → origin, text: ``{"type": "keyframe", "feed": id}``, its viewers' keyframe requests,
  merged by the relay's hub, merged again by the origin's (``Hub.request_keyframe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, WSMsgType, web
from aiortc.mediastreams import MediaStreamError

from access.errors import TokenExpired, TokenInvalid, TokenWrongClass
from access.models import ClassRole

from .aiortc_forward import Hub
from .aiortc_media import AiortcPublisher
from .forward_hub import ForwardedTrack
from .media_ports import close_quietly
from .node import MediaNode
from .participant import Participant, Publication
from .room import Room

log = logging.getLogger("sabaq.streaming.cascade")

FRAME_HEAD = struct.Struct("!II")  # feed id, RTP timestamp
RELAY_RETRY = 1.0  # seconds before a relay whose link dropped opens it again
MAX_FRAME_BYTES = 4 * 1024 * 1024

Key = tuple[str, str]  # source (participant) id, publication name


# -- on the origin ------------------------------------------------------------------------------
class OriginFeed:
    """What one relay is sent of one class: the room's publications as they change, and one
    pump per published track from the track's hub to the link."""

    def __init__(self, room: Room, ws: web.WebSocketResponse) -> None:
        self._room = room
        self._ws = ws
        self._ids = itertools.count(1)
        self._feeds: dict[Key, list[tuple[int, Hub, ForwardedTrack]]] = {}
        self._by_id: dict[int, Hub] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._told: list[dict[str, Any]] | None = None
        self._due = asyncio.Event()

    def changed(self) -> None:
        self._due.set()

    async def run(self) -> None:
        self._room.watchers.append(self.changed)
        reading = asyncio.create_task(self._read(), name="sabaq-relay-requests")
        try:
            self._due.set()
            while not self._ws.closed and not self._room.ended and not reading.done():
                waiting = asyncio.create_task(self._due.wait())
                await asyncio.wait({waiting, reading}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if self._due.is_set():
                    self._due.clear()
                    await self._sync()
            if self._room.ended and not self._ws.closed:
                ended = {"type": "ended", "reason": self._room.end_reason or "ended"}
                await self._ws.send_str(json.dumps(ended))
        finally:
            self._room.watchers.remove(self.changed)
            reading.cancel()
            for key in list(self._feeds):
                self._drop(key)
            for pump in list(self._pumps):
                pump.cancel()

    def _sources(self) -> dict[Key, tuple[Participant, AiortcPublisher, tuple[str, ...]]]:
        out = {}
        for p, name in self._room.sources():
            pub = p.publications[name]
            if isinstance(pub.media, AiortcPublisher) and pub.media.hubs:
                out[(p.id, name)] = (p, pub.media, pub.tracks)
        return out

    async def _sync(self) -> None:
        now = self._sources()
        for key in [k for k in self._feeds if k not in now]:
            self._drop(key)
        told = []
        for key, (p, media, tracks) in now.items():
            feeds = self._feeds.get(key)
            if feeds is None or [h for _, h, _ in feeds] != media.hubs:
                if feeds is not None:
                    self._drop(key)
                feeds = self._feeds[key] = [self._feed(hub) for hub in media.hubs]
            told.append(
                {
                    "source": p.id,
                    "publication": key[1],
                    "user_id": p.user_id,
                    "role": p.role.value,
                    "name": p.name,
                    "tracks": list(tracks),
                    "microphone": p.microphone_on,
                    "camera": p.camera_on,
                    "feeds": [
                        {"id": i, "kind": h.kind, "mime": h.mime, "rate": h.time_base.denominator}
                        for i, h, _ in feeds
                    ],
                }
            )
        if told != self._told:
            self._told = told
            await self._ws.send_str(json.dumps({"type": "sources", "sources": told}))

    def _feed(self, hub: Hub) -> tuple[int, Hub, ForwardedTrack]:
        feed_id = next(self._ids)
        track = hub.subscribe()  # asks the publisher for a keyframe to start the relay from
        self._by_id[feed_id] = hub
        pump = asyncio.create_task(self._pump(feed_id, track), name="sabaq-relay-pump")
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)
        return feed_id, hub, track

    def _drop(self, key: Key) -> None:
        for feed_id, _hub, track in self._feeds.pop(key, []):
            self._by_id.pop(feed_id, None)
            track.stop()

    async def _pump(self, feed_id: int, track: ForwardedTrack) -> None:
        """The track's frames onto the link. While the link cannot take them, they wait in the
        track's bounded queue; a track a queue behind drops to the next keyframe."""
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            head = FRAME_HEAD.pack(feed_id, int(packet.pts or 0) & 0xFFFFFFFF)
            try:
                await self._ws.send_bytes(head + bytes(packet))
            except (ConnectionError, RuntimeError):
                return

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                doc = json.loads(msg.data)
                hub = self._by_id.get(int(doc["feed"])) if doc["type"] == "keyframe" else None
            except (ValueError, KeyError, TypeError):
                log.warning("class %s: a relay's message was ignored", self._room.class_id)
                continue
            if hub is not None:
                hub.request_keyframe()


async def relay_feed(node: MediaNode, request: web.Request) -> web.StreamResponse:
    """A relay node asks for a class's media (``/classes/<id>/relay``)."""
    try:
        class_id = int(request.match_info["class_id"])
    except ValueError:
        raise web.HTTPNotFound(text="No such class") from None
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        relay = node.signer.verify_relay(token, class_id=class_id)
    except (TokenInvalid, TokenExpired, TokenWrongClass):
        raise web.HTTPForbidden(text="Not a relay of this class") from None
    room = node.rooms.get(class_id)
    if room is None or room.ended:
        raise web.HTTPNotFound(text="The class is not live here")
    ws = web.WebSocketResponse(compress=False, heartbeat=node.settings.heartbeat)
    await ws.prepare(request)
    log.info("class %s: relayed to %s", class_id, relay)
    try:
        await OriginFeed(room, ws).run()
    finally:
        await ws.close()
    log.info("class %s: no longer relayed to %s", class_id, relay)
    return ws


# -- on a relay ---------------------------------------------------------------------------------
class RelayHub(Hub):
    """A track of the origin's, on a relay: its frames come over the link; a keyframe request
    of its viewers (merged here as the origin's hub merges its own) goes back over it."""

    def __init__(self, kind: str, mime: str, rate: int, ask: Callable[[], None]) -> None:
        # No receiver: the publisher is on the origin (``_send_pli`` is all that used it).
        super().__init__(kind, mime, rate, None)  # type: ignore[arg-type]
        self._ask = ask

    def _send_pli(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._last_request = time.monotonic()
        self.tally.keyframe_requests += 1
        self._ask()


class RelayedPublisher(AiortcPublisher):
    """A publication of the origin's as the relay's backend sees one: hubs, no peer
    connection (the viewers' side of ``AiortcBackend`` takes any ``AiortcPublisher``)."""

    def __init__(self, hubs: list[Hub]) -> None:  # no super().__init__: there is no peer
        self.hubs = hubs
        self._watch = None

    async def accept_offer(self, sdp: str) -> str:
        raise ValueError("a relayed publication takes no offer")

    async def close(self) -> None:
        for hub in self.hubs:
            hub.close()


@dataclass(slots=True)
class _Mirrored:
    feeds: tuple[int, ...]
    source: Participant


async def _nothing(_text: str) -> None:
    return None


async def _no_close(_code: int, _reason: str) -> None:
    return None


class RelayLink:
    """A relay node's link to a class's origin: its room mirrors what the origin publishes."""

    def __init__(self, node: MediaNode, class_id: int, origin_url: str) -> None:
        self._node = node
        self.class_id = class_id
        # Where the origin's signaling is (as browsers reach it): ``.../classes/<id>/relay``.
        self.origin_url = origin_url
        base = origin_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self._url = f"{base}/classes/{class_id}/relay"
        self._hubs: dict[int, Hub] = {}
        self._mirrored: dict[Key, _Mirrored] = {}
        self._ended: str | None = None  # why the class ended, as the origin said
        self._ws: Any = None
        self._asks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sabaq-relay-{self.class_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._unmirror_all()

    @property
    def room(self) -> Room:
        return self._node.room(self.class_id)

    async def _run(self) -> None:
        while True:
            token = self._node.signer.mint_relay(
                class_id=self.class_id, node_id=self._node.settings.node_id
            )
            try:
                async with (
                    ClientSession() as session,
                    session.ws_connect(
                        self._url,
                        headers={"Authorization": f"Bearer {token}"},
                        max_msg_size=MAX_FRAME_BYTES,
                        heartbeat=self._node.settings.heartbeat,
                    ) as ws,
                ):
                    self._ws = ws
                    self.connected.set()
                    await self._follow(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("class %s: the link to the origin failed: %s", self.class_id, exc)
            finally:
                self._ws = None
                self.connected.clear()
            await self._unmirror_all()
            if self._ended is not None:
                # Its viewers here leave (recorded by this node); the class's end is the
                # origin's to record.
                await self.room.end(None, self._ended, relayed=True)
            if self.room.ended:
                return
            await asyncio.sleep(RELAY_RETRY)

    async def _follow(self, ws: Any) -> None:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                data = msg.data
                feed_id, timestamp = FRAME_HEAD.unpack_from(data)
                hub = self._hubs.get(feed_id)
                if hub is not None:
                    hub.on_frame(data[FRAME_HEAD.size :], timestamp)
            elif msg.type is WSMsgType.TEXT:
                doc = json.loads(msg.data)
                if doc.get("type") == "sources":
                    await self._mirror(doc["sources"])
                elif doc.get("type") == "ended":
                    self._ended = str(doc.get("reason") or "ended")
                    return

    async def _mirror(self, sources: list[dict[str, Any]]) -> None:
        room = self.room
        wanted = {(str(s["source"]), str(s["publication"])): s for s in sources}
        for key in [k for k in self._mirrored if k not in wanted]:
            await self._unmirror(key)
        for key, s in wanted.items():
            feeds = tuple(int(f["id"]) for f in s["feeds"])
            known = self._mirrored.get(key)
            if known is not None and known.feeds == feeds:
                room.mirror_media_state(known.source, bool(s["microphone"]), bool(s["camera"]))
                continue
            if known is not None:
                await self._unmirror(key)
            source = room.mirrored.get(key[0]) or Participant(
                id=key[0],
                user_id=int(s["user_id"]),
                role=ClassRole(str(s["role"])),
                name=str(s["name"]),
                send_text=_nothing,
                close_ws=_no_close,
            )
            source.microphone_on, source.camera_on = bool(s["microphone"]), bool(s["camera"])
            hubs: list[Hub] = []
            for f in s["feeds"]:
                feed_id = int(f["id"])
                hub = RelayHub(str(f["kind"]), str(f["mime"]), int(f["rate"]), self._asker(feed_id))
                self._hubs[feed_id] = hub
                hubs.append(hub)
            self._mirrored[key] = _Mirrored(feeds, source)
            publication = Publication(RelayedPublisher(hubs), tuple(str(t) for t in s["tracks"]))
            await room.mirror(source, key[1], publication)

    async def _unmirror(self, key: Key) -> None:
        known = self._mirrored.pop(key, None)
        if known is None:
            return
        for feed_id in known.feeds:
            self._hubs.pop(feed_id, None)
        room = self._node.rooms.get(self.class_id)
        if room is not None:
            await room.unmirror(*key)
        else:
            pub = known.source.publications.pop(key[1], None)
            if pub is not None:
                await close_quietly(pub.media)

    async def _unmirror_all(self) -> None:
        for key in list(self._mirrored):
            await self._unmirror(key)

    def _asker(self, feed_id: int) -> Callable[[], None]:
        def ask() -> None:
            ws = self._ws
            if ws is None or ws.closed:
                return
            task = asyncio.create_task(
                ws.send_str(json.dumps({"type": "keyframe", "feed": feed_id}))
            )
            self._asks.add(task)
            task.add_done_callback(self._asks.discard)

        return ask


class Cascade:
    """A node's relay links, by class."""

    def __init__(self, node: MediaNode) -> None:
        self._node = node
        self.links: dict[int, RelayLink] = {}

    def relay(self, class_id: int, origin_url: str) -> RelayLink:
        """Relay the class from its origin (its signaling's URL), unless this node does."""
        link = self.links.get(class_id)
        if link is None:
            link = self.links[class_id] = RelayLink(self._node, class_id, origin_url)
            link.start()
        return link

    async def drop(self, class_id: int) -> None:
        """Relay the class no more (its viewers here are let go by the caller)."""
        link = self.links.pop(class_id, None)
        if link is not None:
            await link.stop()

    async def stop(self) -> None:
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
