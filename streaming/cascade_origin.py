"""On a class's origin node: the relay's viewers, piped over the relay's link (``cascade``).

The origin's room is the one authority over the class. A viewer whose socket a relay node took
is, here, an ordinary ``Participant`` (admitted, barred, recorded, in the roster, the hands
queue and the chat as any), served by ``signaling`` over a ``PipedSocket``: what it says
arrives over the link, what it is told goes back over it. Its peer connections are hosted on
the relay, which is where its packets come from; the room drives them through a
``RemoteBackend``: each ``RemoteViewer`` or ``RemotePublisher`` is a request over the link
that the relay carries out on real aiortc peers (``cascade_relay``), so the floor, the seminar's
views, low bandwidth and mutes decided here hold for the relay's viewers too.

A viewer of the relay given the floor publishes on the relay (the page keeps its one node);
its frames come up the link into hubs here (``RemotePublisher``), from which the origin's own
viewers are served and which the origin sends down to every relay as any publication, so the
relay's other viewers get it as they get the teacher's. The way up is one more hop for them;
it keeps the origin's room the only place publications are known.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import WSMessage, WSMsgType

from .cascade_media import FRAME_HEAD, Key, RelayedPublisher, RelayHub, relay_hub
from .media_ports import MediaBackend, PublisherMedia
from .node import MediaNode
from .piping import Socket
from .room import Room

log = logging.getLogger("sabaq.streaming.cascade")

# Seconds the relay has to make an offer or take an answer; past them, the viewer is told
# "media_timeout" and disconnected, and its page reconnects (``MediaMixin._media_timed_out``).
REQUEST_TIMEOUT = 15.0
# A relay viewer's messages not yet handled here: beyond, its texts are dropped (a flood; the
# link cannot hold back one viewer as a direct socket's TCP would), its close never is.
INBOX = 64


class Serve(Protocol):
    """``signaling.admit_and_serve``, passed in (``signaling`` imports this package)."""

    def __call__(
        self,
        node: MediaNode,
        ws: Socket,
        class_id: int,
        admitted: None = None,
        backend: MediaBackend | None = None,
    ) -> Awaitable[None]: ...


class LinkSend(Protocol):
    async def send_str(self, data: str) -> None: ...
    @property
    def closed(self) -> bool: ...


class ToViewers:
    """What the origin's room tells a relay's viewers, batched: the room tells everyone the
    same text in one turn of the loop (a roster, a chat message), which goes over the link
    once, with the viewers it is for (``{"type": "to", "pids": [...], "message": text}``).
    Each viewer's messages keep their order; so do the closes queued among them."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._send = send
        self._batches: list[dict[str, Any]] = []
        self._latest: dict[str, int] = {}  # text → index of its newest batch
        self._last: dict[str, int] = {}  # viewer → index of the newest batch it is in
        self._flushing: asyncio.Task[None] | None = None

    def to(self, pid: str, text: str) -> None:
        at = self._latest.get(text)
        if at is not None and at > self._last.get(pid, -1):
            self._batches[at]["pids"].append(pid)  # its order kept: nothing newer is for it
        else:
            at = self._latest[text] = len(self._batches)
            self._batches.append({"type": "to", "pids": [pid], "message": text})
        self._last[pid] = at
        self._flush_soon()

    def then(self, doc: dict[str, Any]) -> None:
        """A message to the relay after every batch queued so far."""
        self._batches.append(doc)
        self._latest.clear()
        self._last.clear()
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="sabaq-piped-out")

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # the rest of this turn's telling joins the batches
            while self._batches:
                batches, self._batches = self._batches, []
                self._latest.clear()
                self._last.clear()
                for doc in batches:
                    await self._send(doc)
        except (ConnectionError, RuntimeError):
            self._batches.clear()  # the link is gone; so are its viewers
        finally:
            self._flushing = None


class PipedSocket:
    """A relay viewer's socket as the origin's signaling serves it (``piping.Socket``)."""

    def __init__(self, pid: str, pipes: OriginPipes) -> None:
        self.pid = pid
        self._pipes = pipes
        self._inbox: asyncio.Queue[WSMessage] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, msg: WSMessage) -> None:
        if msg.type is WSMsgType.TEXT and self._inbox.qsize() >= INBOX:
            log.warning(
                "a relayed viewer (%s) floods its messages; the excess is dropped", self.pid
            )
            return
        self._inbox.put_nowait(msg)

    async def receive(self) -> WSMessage:
        return await self._inbox.get()

    async def send_str(self, data: str) -> None:
        if self._closed:
            raise ConnectionResetError("the viewer's socket is closed")
        self._pipes.to(self.pid, data)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self._closed:
            return False
        self._closed = True
        self.put(WSMessage(WSMsgType.CLOSED, None, None))
        self._pipes.closing(self.pid, code, message.decode())
        return True


class RemoteViewer:
    """A relay viewer's peer connection to one source, hosted on the relay (``ViewerMedia``,
    ``HoldsTracks``)."""

    def __init__(self, pipes: OriginPipes, key: Key | None, on_failed: Callable[[], None]) -> None:
        self._pipes = pipes
        self._key = key
        self.on_failed = on_failed
        self.id = pipes.register(self)

    async def make_offer(self) -> str:
        if self._key is None:
            raise ValueError("the source is not one the relay is sent")
        await self._pipes.synced()  # the relay mirrors the source before it is asked to serve it
        reply = await self._pipes.request(
            {"type": "view", "view": self.id, "source": self._key[0], "publication": self._key[1]}
        )
        return str(reply["sdp"])

    async def accept_answer(self, sdp: str) -> None:
        await self._pipes.request({"type": "answer", "view": self.id, "sdp": sdp})

    def hold_tracks(self, held: Sequence[bool]) -> None:
        self._pipes.tell({"type": "hold", "view": self.id, "held": list(held)})

    async def close(self) -> None:
        if self._pipes.forget(self.id):
            self._pipes.tell({"type": "unview", "view": self.id})


class RemotePublisher(RelayedPublisher):
    """A relay viewer's publication (the floor, a seminar's camera), its peer connection
    hosted on the relay, its frames coming up the link into hubs here (``PublisherMedia``)."""

    def __init__(self, pipes: OriginPipes, on_failed: Callable[[], None]) -> None:
        super().__init__([])
        self._pipes = pipes
        self.on_failed = on_failed
        self.id = pipes.register(self)
        self._feeds: list[int] = []

    async def accept_offer(self, sdp: str) -> str:
        reply = await self._pipes.request({"type": "publish", "publisher": self.id, "sdp": sdp})
        for feed in reply["feeds"]:
            feed_id = int(feed["id"])
            self._feeds.append(feed_id)
            self.hubs.append(self._pipes.upstream(feed_id, feed))
        return str(reply["sdp"])

    async def close(self) -> None:
        await super().close()
        self._pipes.drop_upstream(self._feeds)
        if self._pipes.forget(self.id):
            self._pipes.tell({"type": "unpublish", "publisher": self.id})


class RemoteBackend:
    """The media of the relay's viewers, as the origin's room drives it (``MediaBackend``)."""

    def __init__(self, pipes: OriginPipes) -> None:
        self._pipes = pipes

    def new_publisher(self, on_failed: Callable[[], None]) -> RemotePublisher:
        return RemotePublisher(self._pipes, on_failed)

    def new_viewer(self, source: PublisherMedia, on_failed: Callable[[], None]) -> RemoteViewer:
        return RemoteViewer(self._pipes, self._pipes.key_of(source), on_failed)

    def new_recording(
        self, class_id: int, publications: Mapping[str, tuple[PublisherMedia, tuple[str, ...]]]
    ) -> Any:
        raise TypeError("the room records with its own backend")


class OriginPipes:
    """The viewers of one relay, on the origin: their sockets, their media's requests."""

    def __init__(
        self,
        node: MediaNode,
        room: Room,
        ws: LinkSend,
        serve: Serve,
        synced: Callable[[], Awaitable[None]],
    ) -> None:
        self._node, self._room, self._ws = node, room, ws
        self._serve = serve
        self.synced = synced  # the relay told what is published now (``OriginFeed``)
        self.backend = RemoteBackend(self)
        self._sockets: dict[str, PipedSocket] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._media: dict[int, RemoteViewer | RemotePublisher] = {}
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._upstream: dict[int, RelayHub] = {}
        self._telling: set[asyncio.Task[None]] = set()
        self._outbox = ToViewers(self.send)

    # -- the link -----------------------------------------------------------------------------
    async def send(self, doc: dict[str, Any]) -> None:
        if self._ws.closed:
            raise ConnectionResetError("the relay's link is closed")
        await self._ws.send_str(json.dumps(doc))

    def to(self, pid: str, text: str) -> None:
        """A message to one viewer: batched with the same message to its other viewers."""
        self._outbox.to(pid, text)

    def closing(self, pid: str, code: int, reason: str) -> None:
        """A viewer's socket closed by the room, after what it was told."""
        self._outbox.then({"type": "close", "pid": pid, "code": code, "reason": reason})

    def tell(self, doc: dict[str, Any]) -> None:
        """Send without waiting (from a caller that cannot): in order, as tasks run in turn."""

        async def told() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(doc)

        task = asyncio.create_task(told())
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def request(self, doc: dict[str, Any]) -> dict[str, Any]:
        rid = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[rid] = reply
        try:
            await self.send({**doc, "rid": rid})
            async with asyncio.timeout(REQUEST_TIMEOUT):
                got = await reply
        finally:
            self._replies.pop(rid, None)
        if "error" in got:
            raise ValueError(str(got["error"]))
        return got

    def register(self, media: RemoteViewer | RemotePublisher) -> int:
        media_id = next(self._ids)
        self._media[media_id] = media
        return media_id

    def forget(self, media_id: int) -> bool:
        return self._media.pop(media_id, None) is not None

    def key_of(self, source: PublisherMedia) -> Key | None:
        for p, name in self._room.sources():
            if p.publications[name].media is source:
                return p.id, name
        return None

    def upstream(self, feed_id: int, feed: dict[str, Any]) -> RelayHub:
        def ask() -> None:
            self.tell({"type": "keyframe", "feed": feed_id})

        hub = self._upstream[feed_id] = relay_hub(feed, ask, self._node.media)
        return hub

    def drop_upstream(self, feed_ids: list[int]) -> None:
        for feed_id in feed_ids:
            self._upstream.pop(feed_id, None)

    # -- what the relay says ------------------------------------------------------------------
    def frame(self, data: bytes) -> None:
        """A frame of a relay viewer's publication."""
        feed_id, timestamp = FRAME_HEAD.unpack_from(data)
        hub = self._upstream.get(feed_id)
        if hub is not None:
            hub.on_frame(data[FRAME_HEAD.size :], timestamp)

    def handle(self, doc: dict[str, Any]) -> None:
        kind = doc["type"]
        if kind == "joined":
            self._joined(str(doc["pid"]))
        elif kind == "from":
            sock = self._sockets.get(str(doc["pid"]))
            if sock is not None:
                sock.put(WSMessage(WSMsgType.TEXT, str(doc["message"]), None))
        elif kind == "left":
            sock = self._sockets.get(str(doc["pid"]))
            if sock is not None:
                code = doc.get("code")
                gone = (WSMsgType.CLOSE, int(code)) if code else (WSMsgType.CLOSED, None)
                sock.put(WSMessage(gone[0], gone[1], None))
        elif kind == "reply":
            reply = self._replies.get(int(doc["rid"]))
            if reply is not None and not reply.done():
                reply.set_result(doc)
        elif kind == "level":  # a relay viewer's microphone, as heard on the relay
            hub = self._upstream.get(int(doc["feed"]))
            if hub is not None:
                hub.hear(int(doc["level"]))
        elif kind == "failed":
            media = self._media.get(int(doc["media"]))
            if media is not None:
                media.on_failed()
        else:
            raise ValueError(f"unknown message {kind!r}")

    def _joined(self, pid: str) -> None:
        sock = self._sockets[pid] = PipedSocket(pid, self)

        async def serve() -> None:
            try:
                await self._serve(self._node, sock, self._room.class_id, None, backend=self.backend)
            finally:
                self._sockets.pop(pid, None)
                await sock.close()

        task = asyncio.create_task(serve(), name="sabaq-piped-viewer")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def close(self) -> None:
        """The link is gone: each of its viewers dropped (the room's grace applies, their
        reconnect may land anywhere the class is)."""
        for sock in list(self._sockets.values()):
            sock.put(WSMessage(WSMsgType.CLOSED, None, None))
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(ConnectionResetError("the relay's link is closed"))
        if self._serving:
            await asyncio.wait(set(self._serving), timeout=REQUEST_TIMEOUT)
        for hub in self._upstream.values():
            hub.close()
        self._upstream.clear()
