"""On a class's origin node: what one relay is sent of the class, over the link the relay
opened (``cascade`` describes the link; ``cascade_origin`` serves the relay's viewers)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from access.errors import TokenExpired, TokenInvalid, TokenWrongClass

from .aiortc_forward import Hub
from .aiortc_media import AiortcPublisher
from .cascade_media import MAX_FRAME_BYTES, Key, feed_doc, pump
from .cascade_origin import OriginPipes, Serve
from .forward_hub import ForwardedTrack
from .node import MediaNode
from .participant import Participant
from .room import Room

log = logging.getLogger("sabaq.streaming.cascade")


class OriginFeed:
    """What one relay is sent of one class: the room's publications as they change, and one
    pump per published track from the track's hub to the link; and the relay's viewers, piped
    here (``OriginPipes``)."""

    def __init__(
        self, node: MediaNode, room: Room, ws: web.WebSocketResponse, serve: Serve
    ) -> None:
        self._room = room
        self._ws = ws
        self._tally = node.links
        self._ids = itertools.count(1)
        self._feeds: dict[Key, list[tuple[int, Hub, ForwardedTrack]]] = {}
        self._by_id: dict[int, Hub] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._told: list[dict[str, Any]] | None = None
        self._due = asyncio.Event()
        self._syncing = asyncio.Lock()
        self.pipes = OriginPipes(node, room, ws, serve, self.synced)

    def changed(self) -> None:
        self._due.set()

    async def run(self) -> None:
        self._room.watchers.append(self.changed)
        reading = asyncio.create_task(self._read(), name="sabaq-relay-requests")
        self._tally.links += 1
        try:
            self._due.set()
            while not self._ws.closed and not self._room.ended and not reading.done():
                waiting = asyncio.create_task(self._due.wait())
                await asyncio.wait({waiting, reading}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if self._due.is_set():
                    self._due.clear()
                    await self.synced()
            if self._room.ended and not self._ws.closed:
                ended = {"type": "ended", "reason": self._room.end_reason or "ended"}
                await self._ws.send_str(json.dumps(ended))
        finally:
            self._tally.links -= 1
            self._room.watchers.remove(self.changed)
            reading.cancel()
            await self.pipes.close()
            for key in list(self._feeds):
                self._drop(key)
            for task in list(self._pumps):
                task.cancel()

    def _sources(self) -> dict[Key, tuple[Participant, AiortcPublisher, tuple[str, ...]]]:
        out = {}
        for p, name in self._room.sources():
            pub = p.publications[name]
            if isinstance(pub.media, AiortcPublisher) and pub.media.hubs:
                out[(p.id, name)] = (p, pub.media, pub.tracks)
        return out

    async def synced(self) -> None:
        """The relay told what is published now (once the telling before has gone out)."""
        async with self._syncing:
            await self._sync()

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
                    "feeds": [feed_doc(i, h) for i, h, _ in feeds],
                }
            )
        if told != self._told:
            self._told = told
            await self._ws.send_str(json.dumps({"type": "sources", "sources": told}))

    def _feed(self, hub: Hub) -> tuple[int, Hub, ForwardedTrack]:
        feed_id = next(self._ids)
        track = hub.subscribe()  # asks the publisher for a keyframe to start the relay from
        self._by_id[feed_id] = hub
        task = asyncio.create_task(
            pump(feed_id, track, self._ws.send_bytes, self._tally), name="sabaq-relay-pump"
        )
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)
        return feed_id, hub, track

    def _drop(self, key: Key) -> None:
        for feed_id, _hub, track in self._feeds.pop(key, []):
            self._by_id.pop(feed_id, None)
            track.stop()

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is WSMsgType.BINARY:
                self.pipes.frame(msg.data)
                continue
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                doc = json.loads(msg.data)
                if doc["type"] == "keyframe":
                    hub = self._by_id.get(int(doc["feed"]))
                    if hub is not None:
                        hub.request_keyframe()
                else:
                    self.pipes.handle(doc)
            except (ValueError, KeyError, TypeError):
                log.warning("class %s: a relay's message was ignored", self._room.class_id)


async def relay_feed(node: MediaNode, request: web.Request, serve: Serve) -> web.StreamResponse:
    """A relay node asks for a class's media (``/classes/<id>/relay``); the sockets of its
    viewers are piped over the same link and served by ``serve`` (signaling's)."""
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
    ws = web.WebSocketResponse(
        compress=False, heartbeat=node.settings.heartbeat, max_msg_size=MAX_FRAME_BYTES
    )
    await ws.prepare(request)
    log.info("class %s: relayed to %s", class_id, relay)
    try:
        await OriginFeed(node, room, ws, serve).run()
    finally:
        await ws.close()
    log.info("class %s: no longer relayed to %s", class_id, relay)
    return ws
