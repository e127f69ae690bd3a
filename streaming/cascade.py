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
  room ends too, and a piped viewer not yet told is told here (their departures, as the
  class's end, are the origin's records);
- relay → origin, text: ``{"type": "keyframe", "feed": id}``, its viewers' keyframe requests,
  merged by the relay's hub, merged again by the origin's (``Hub.request_keyframe``).

The class's room is the origin's alone: a viewer whose socket reaches a relay is piped to it
(``cascade_relay`` on the relay, ``cascade_origin`` on the origin), so roster, chat, hands,
floor, seminar, removals and the register are the origin's as for its own viewers, and the
viewer's peer connections are hosted by the relay on the origin's requests:

- relay → origin: ``{"type": "joined", "pid": p}`` a viewer's socket opened (``p``, the
  relay's name for it); ``{"type": "from", "pid": p, "message": text}`` each message it sent,
  the first its join or rejoin; ``{"type": "left", "pid": p, "code": c}`` it closed (``c``,
  its close code, null if lost);
- origin → relay: ``{"type": "to", "pids": [p, ...], "message": text}`` what they are told
  (one message said to many of the relay's viewers at once, a roster or a chat message, goes
  over the link once); ``{"type": "close", "pid": p, "code": c, "reason": r}`` its socket
  closed by the room, after what it was told;
- origin → relay, requests answered by ``{"type": "reply", "rid": n, ...}`` (``sdp``,
  ``feeds``, or ``error``): ``{"type": "view", "rid": n, "view": v, "source": s,
  "publication": name}`` a peer connection to a mirrored publication, its offer replied;
  ``{"type": "answer", "rid": n, "view": v, "sdp": ...}``; ``{"type": "publish", "rid": n,
  "publisher": u, "sdp": ...}`` a viewer's publication received here, replied with the answer
  and its feeds (as in ``sources``);
- origin → relay, told: ``{"type": "hold", "view": v, "held": [...]}`` (``HoldsTracks``),
  ``{"type": "unview", "view": v}``, ``{"type": "unpublish", "publisher": u}``,
  ``{"type": "keyframe", "feed": f}`` for a feed of the relay's;
- relay → origin: ``{"type": "failed", "media": v_or_u}`` a hosted peer connection failed;
  ``{"type": "level", "feed": f, "level": n}`` a viewer's microphone's mean level (-dBov)
  every 0.1 s it is heard, for the origin's active speaker; binary, a frame of a viewer's
  publication (the relay's feed numbering, same head).

The link lost, the origin takes each piped viewer as dropped (the room's grace); the relay lets
its viewers go (code 4503) and they come back with their reconnect token, through the relay
once its link is up again, or on any node that has the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, WSMsgType, WSServerHandshakeError

from access.models import ClassRole

from .aiortc_forward import Hub
from .aiortc_media import AiortcPublisher
from .cascade_media import (
    FRAME_HEAD,
    MAX_FRAME_BYTES,
    Key,
    RelayedPublisher,
    relay_hub,
)
from .cascade_relay import RelayPipes
from .media_ports import close_quietly
from .node import MediaNode
from .participant import Participant, Publication
from .piping import Socket
from .room import Room

log = logging.getLogger("sabaq.streaming.cascade")

RELAY_RETRY = 1.0  # seconds before a relay whose link dropped opens it again
# Times in a row the origin may answer that the class is not live there (ended, or placed
# anew elsewhere) before the link gives up: joins here then ask placement again.
NOT_LIVE_TRIES = 10


# -- on a relay ---------------------------------------------------------------------------------
@dataclass(slots=True)
class _Mirrored:
    feeds: tuple[int, ...]
    source: Participant


async def _nothing(_text: str) -> None:
    return None


async def _no_close(_code: int, _reason: str) -> None:
    return None


class RelayLink:
    """A relay node's link to a class's origin: its room mirrors what the origin publishes;
    its viewers' sockets are piped to the origin's room (``piping.RelayPipe``)."""

    def __init__(
        self,
        node: MediaNode,
        class_id: int,
        origin_url: str,
        gone: Callable[[RelayLink], None] = lambda _link: None,
    ) -> None:
        self._node = node
        self._gone = gone  # told when the class ended: the link is done with
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
        self.pipes = RelayPipes(node.media, self._mirrored_media, node.links)

    def start(self) -> None:
        self._node.relays[self.class_id] = self
        self._task = asyncio.create_task(self._run(), name=f"sabaq-relay-{self.class_id}")

    def _unlist(self) -> None:
        if self._node.relays.get(self.class_id) is self:
            del self._node.relays[self.class_id]

    async def stop(self) -> None:
        self._unlist()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.pipes.unlinked(None)
        await self._unmirror_all()

    @property
    def viewers(self) -> int:
        return self.pipes.viewers

    async def pipe(self, ws: Socket, first: str) -> None:
        await self.pipes.pipe(ws, first)

    def _mirrored_media(self, key: Key) -> AiortcPublisher | None:
        source = self.room.mirrored.get(key[0]) if key in self._mirrored else None
        publication = source.publications.get(key[1]) if source is not None else None
        media = publication.media if publication is not None else None
        return media if isinstance(media, AiortcPublisher) else None

    @property
    def room(self) -> Room:
        return self._node.room(self.class_id)

    async def _run(self) -> None:
        not_live = 0
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
                    self.pipes.linked(ws)
                    self.connected.set()
                    await self._follow(ws)
            except asyncio.CancelledError:
                raise
            except WSServerHandshakeError as exc:
                not_live = not_live + 1 if exc.status == 404 else 0
                log.warning("class %s: the origin refused the link: %s", self.class_id, exc)
            except Exception as exc:
                not_live = 0
                log.warning("class %s: the link to the origin failed: %s", self.class_id, exc)
            else:
                not_live = 0
            finally:
                self._ws = None
                self.connected.clear()
            await self.pipes.unlinked(self._ended)
            await self._unmirror_all()
            if self._ended is not None:
                # Its viewers here leave (recorded by this node); the class's end is the
                # origin's to record.
                await self.room.end(None, self._ended, relayed=True)
            if self.room.ended:
                # Joins here are the ended room's now (refused "class_ended", as the origin
                # refuses them); the link is done with.
                self._unlist()
                self._gone(self)
                return
            if not_live >= NOT_LIVE_TRIES:
                log.warning("class %s: not live at its origin; no longer relayed", self.class_id)
                self._unlist()
                self._gone(self)
                return
            await asyncio.sleep(RELAY_RETRY)

    async def _follow(self, ws: Any) -> None:
        async for msg in ws:
            try:
                if await self._take(msg):
                    return
            except (ValueError, KeyError, TypeError, AttributeError, struct.error):
                # As the origin does with a relay's: one message cannot cut the link for all.
                log.warning("class %s: a message of the origin's was ignored", self.class_id)

    async def _take(self, msg: Any) -> bool:
        """One message of the origin's; True once it said the class ended."""
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
                return True
            else:
                self.pipes.handle(doc)
        return False

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
                hub = relay_hub(f, self._asker(feed_id), self._node.media)
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
            link = RelayLink(self._node, class_id, origin_url, self._forget)
            self.links[class_id] = link
            link.start()
        return link

    def _forget(self, link: RelayLink) -> None:
        if self.links.get(link.class_id) is link:
            del self.links[link.class_id]

    async def drop(self, class_id: int) -> None:
        """Relay the class no more (its viewers here are let go by the caller)."""
        link = self.links.pop(class_id, None)
        if link is not None:
            await link.stop()

    async def stop(self) -> None:
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
