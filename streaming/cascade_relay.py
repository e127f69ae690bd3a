"""On a relay node: its viewers' sockets piped to the class's origin, and the peer connections
the origin's room asks it to host for them (``cascade_origin`` is the other end).

A viewer's socket is read here and each message passed up the link as it came; what the
origin's room tells the viewer comes down and is written to the socket in order (a viewer
that does not read is let go as on the origin). The viewer's peer connections are real aiortc
peers of this node's backend: a view of a source is made from the relay's mirror of that
source's publication (``Room.mirror``), so its packets are the relay's fan-out of what the
origin sent once; a publication of the viewer's (the floor) is received here and its frames
pumped up the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType

from access.ids import uuid7

from .aiortc_forward import Hub
from .aiortc_media import AiortcPublisher
from .cascade_media import Key, feed_doc, pump
from .forward_hub import ForwardedTrack
from .media_ports import HoldsTracks, MediaBackend, PublisherMedia, ViewerMedia, close_quietly
from .node import ENDED_MESSAGE
from .participant import CLOSE_CLASS_ENDED, CLOSE_SERVER_STOPPING, CLOSE_TOO_SLOW, SEND_TIMEOUT
from .piping import Socket
from .protocol import MAX_MESSAGE_BYTES, server_message
from .seminar import SPEAKER_TICK
from .stats import LinkTally

log = logging.getLogger("sabaq.streaming.cascade")

LINK_WAIT = 5.0  # seconds a viewer's socket waits for the link to the origin to be up
OUTBOX = 512  # messages a viewer may leave unread before it is let go
# A viewer's message longer than a direct connection takes is not piped as it came: this
# stand-in is, which the origin refuses as it would the original ("too_large": the viewer told,
# its socket closed, recorded as any). So no "from" on the link is longer than json.dumps
# makes of MAX_MESSAGE_BYTES characters (at most 12 bytes each, a \uXXXX pair), which the
# link's limit (``cascade_media.MAX_FRAME_BYTES``) covers: no viewer can close the link.
TOO_LARGE = " " * (MAX_MESSAGE_BYTES + 1)


class PipedClient:
    """A viewer's socket on the relay: what the origin tells it, written in order. A viewer
    that does not read is let go as a direct connection is (``Participant.deliver``): a
    message not taken within ``send_timeout``, or ``OUTBOX`` left unwritten, and its socket is
    closed "too slow" at once, not behind what it did not read."""

    def __init__(self, ws: Socket, send_timeout: float = SEND_TIMEOUT) -> None:
        self.ws = ws
        self._send_timeout = send_timeout
        self._out: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name="sabaq-piped-writer")
        self.closing = False  # a close is queued: what comes before it is written, then it

    def push(self, item: str | tuple[int, str]) -> None:
        if self._writer.done():
            return  # closed, or let go
        if self._out.qsize() >= OUTBOX and isinstance(item, str):
            self._writer.cancel()
            self._writer = asyncio.create_task(self._close(CLOSE_TOO_SLOW, "too slow"))
            self.closing = True
            return
        if isinstance(item, tuple):
            self.closing = True
        self._out.put_nowait(item)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
            async with asyncio.timeout(self._send_timeout):
                await self.ws.close(code=code, message=reason.encode()[:120])

    async def _write(self) -> None:
        while True:
            item = await self._out.get()
            if isinstance(item, tuple):
                await self._close(*item)
                return
            try:
                async with asyncio.timeout(self._send_timeout):
                    await self.ws.send_str(item)
            except TimeoutError:
                log.warning("a relayed viewer does not read its messages; disconnecting")
                self.closing = True
                await self._close(CLOSE_TOO_SLOW, "too slow")
                return
            except (ConnectionError, RuntimeError):
                return

    async def stop(self) -> None:
        """The socket is done with: a close queued (and what was told before it) is written
        first, within a bound; else nothing more is."""
        if self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), LINK_WAIT)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class RelayPipes:
    """The viewers of one class on this relay node, piped to the origin over its link."""

    def __init__(
        self,
        media: MediaBackend,
        mirrored: Callable[[Key], AiortcPublisher | None],
        tally: LinkTally,
    ):
        self._media = media
        self._tally = tally  # the frames of a floor's publication sent up, for /metrics
        self._mirrored = mirrored  # the relay's mirror of an origin's publication
        self._link: Any = None
        self.up = asyncio.Event()
        self.ended: str | None = None  # the class ended, as the origin said: joins are refused
        self._settled = asyncio.Event()  # the link is up, or the class ended
        self._clients: dict[str, PipedClient] = {}
        self._views: dict[int, ViewerMedia] = {}
        self._publishers: dict[int, tuple[AiortcPublisher, list[ForwardedTrack]]] = {}
        self._upstream: dict[int, Hub] = {}
        self._feed_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def viewers(self) -> int:
        return len(self._clients)

    # -- the link -----------------------------------------------------------------------------
    def linked(self, link: Any) -> None:
        self._link = link
        self.up.set()
        self._settled.set()

    async def unlinked(self, ended: str | None) -> None:
        """The link is gone: its viewers are let go here (to reconnect, unless the class
        ended) and the peer connections hosted for them closed."""
        self._link = None
        self.up.clear()
        if ended is None:
            self._settled.clear()
        else:
            self.ended = ended
            self._settled.set()
        for client in list(self._clients.values()):
            if ended is not None:
                client.push(server_message("ended", reason=ended))
                client.push((CLOSE_CLASS_ENDED, "class ended"))
            else:
                client.push(server_message("error", code="server_stopping", message="Reconnect"))
                client.push((CLOSE_SERVER_STOPPING, "relay lost its origin"))
        self._clients.clear()
        for task in list(self._tasks):
            task.cancel()
        for view in list(self._views.values()):
            await close_quietly(view)
        self._views.clear()
        for pub_id in list(self._publishers):
            await self._unpublish(pub_id)

    async def _send(self, link: Any, doc: dict[str, Any]) -> None:
        if link is None or link.closed or link is not self._link:
            raise ConnectionResetError("the link to the origin is down")
        await link.send_str(json.dumps(doc))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tell(self, doc: dict[str, Any]) -> None:
        async def told() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(self._link, doc)

        self._spawn(told())

    # -- a viewer's socket --------------------------------------------------------------------
    async def pipe(self, ws: Socket, first: str) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINK_WAIT):
                await self._settled.wait()
        if self.ended is not None:  # as the origin refuses a join once the class ended
            await ws.send_str(server_message("error", code="class_ended", message=ENDED_MESSAGE))
            await ws.close(code=CLOSE_CLASS_ENDED, message=b"class_ended")
            return
        if not self.up.is_set():
            text = server_message("error", code="server_stopping", message="Try again")
            await ws.send_str(text)
            await ws.close(code=CLOSE_SERVER_STOPPING, message=b"no origin")
            return
        link, pid = self._link, str(uuid7())
        client = self._clients[pid] = PipedClient(ws)
        code: int | None = None
        lost = False
        try:
            await self._send(link, {"type": "joined", "pid": pid})
            await self._send(link, {"type": "from", "pid": pid, "message": first})
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    text = msg.data if len(msg.data) <= MAX_MESSAGE_BYTES else TOO_LARGE
                    await self._send(link, {"type": "from", "pid": pid, "message": text})
                elif msg.type is WSMsgType.BINARY:  # the origin refuses it, as it would its own
                    await self._send(link, {"type": "from", "pid": pid, "message": ""})
                else:
                    code = int(msg.data) if msg.type is WSMsgType.CLOSE else None
                    break
        except (ConnectionError, RuntimeError):
            lost = True  # the link went under this viewer: it comes back when it is up
        finally:
            if self._clients.get(pid) is client:
                del self._clients[pid]
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._send(link, {"type": "left", "pid": pid, "code": code})
            await client.stop()
            if not ws.closed:
                await ws.close(code=CLOSE_SERVER_STOPPING if lost else 1000)

    # -- what the origin says -----------------------------------------------------------------
    def handle(self, doc: dict[str, Any]) -> None:
        kind = doc["type"]
        if kind == "to":
            text = str(doc["message"])
            for pid in doc["pids"]:
                client = self._clients.get(str(pid))
                if client is not None:
                    client.push(text)
        elif kind == "close":
            client = self._clients.pop(str(doc["pid"]), None)
            if client is not None:
                client.push((int(doc["code"]), str(doc["reason"])))
        elif kind == "view":
            self._view(doc)
        elif kind == "answer":
            self._spawn(self._answer(doc))
        elif kind == "hold":
            view = self._views.get(int(doc["view"]))
            if isinstance(view, HoldsTracks):
                view.hold_tracks([bool(h) for h in doc["held"]])
        elif kind == "unview":
            gone = self._views.pop(int(doc["view"]), None)
            if gone is not None:
                self._spawn(close_quietly(gone))
        elif kind == "publish":
            self._publish(doc)
        elif kind == "unpublish":
            self._spawn(self._unpublish(int(doc["publisher"])))
        elif kind == "keyframe":
            hub = self._upstream.get(int(doc["feed"]))
            if hub is not None:
                hub.request_keyframe()
        else:
            raise ValueError(f"unknown message {kind!r}")

    def _failed(self, media_id: int) -> Callable[[], None]:
        return lambda: self._tell({"type": "failed", "media": media_id})

    async def _reply(self, link: Any, rid: object, **fields: Any) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(link, {"type": "reply", "rid": rid, **fields})

    def _view(self, doc: dict[str, Any]) -> None:
        """A view made at once (an "unview" right after it finds it, and closes it), its
        offer made in a task."""
        link, view_id, rid = self._link, int(doc["view"]), doc["rid"]
        source = self._mirrored((str(doc["source"]), str(doc["publication"])))
        if source is None:
            self._spawn(self._reply(link, rid, error="the source is not mirrored here"))
            return
        view = self._views[view_id] = self._media.new_viewer(source, self._failed(view_id))
        self._spawn(self._offer(link, rid, view_id, view))

    async def _offer(self, link: Any, rid: object, view_id: int, view: ViewerMedia) -> None:
        try:
            offer = await view.make_offer()
        except Exception as exc:
            if self._views.get(view_id) is view:
                del self._views[view_id]
            await close_quietly(view)
            await self._reply(link, rid, error=str(exc))
            return
        await self._reply(link, rid, sdp=offer)

    async def _answer(self, doc: dict[str, Any]) -> None:
        link, view = self._link, self._views.get(int(doc["view"]))
        if view is None:
            await self._reply(link, doc["rid"], error="no such view")
            return
        try:
            await view.accept_answer(str(doc["sdp"]))
        except Exception as exc:
            await self._reply(link, doc["rid"], error=str(exc))
            return
        await self._reply(link, doc["rid"])

    def _publish(self, doc: dict[str, Any]) -> None:
        """A publisher made at once, as a view is (``_view``): an "unpublish" or the link's
        end while its offer is taken closes it."""
        pub_id = int(doc["publisher"])
        pub = self._media.new_publisher(self._failed(pub_id))
        if isinstance(pub, AiortcPublisher):
            self._publishers[pub_id] = (pub, [])
        self._spawn(self._accept(self._link, doc, pub_id, pub))

    async def _accept(
        self, link: Any, doc: dict[str, Any], pub_id: int, pub: PublisherMedia
    ) -> None:
        try:
            if not isinstance(pub, AiortcPublisher):
                raise TypeError("this node's backend cannot forward a publication")
            answer = await pub.accept_offer(str(doc["sdp"]))
            if self._publishers.get(pub_id, (None,))[0] is not pub:
                raise ConnectionResetError("withdrawn")  # unpublished, or the link went
        except Exception as exc:
            if self._publishers.get(pub_id, (None,))[0] is pub:
                del self._publishers[pub_id]
            await close_quietly(pub)
            await self._reply(link, doc["rid"], error=str(exc))
            return
        feeds, tracks = [], []
        for hub in pub.hubs:
            feed_id = next(self._feed_ids)
            self._upstream[feed_id] = hub
            track = hub.subscribe()
            tracks.append(track)
            feeds.append(feed_doc(feed_id, hub))
            self._spawn(pump(feed_id, track, link.send_bytes, self._tally))
            if hub.kind == "audio":
                self._spawn(self._levels(link, feed_id, hub))
        self._publishers[pub_id] = (pub, tracks)
        await self._reply(link, doc["rid"], sdp=answer, feeds=feeds)

    async def _levels(self, link: Any, feed_id: int, hub: Hub) -> None:
        """The microphone's levels, as heard here (``HearsAudioLevel``), up to the origin,
        whose room chooses the active speaker."""
        while feed_id in self._upstream:
            await asyncio.sleep(SPEAKER_TICK / 2)
            level = hub.take_level()
            if level is not None:
                try:
                    await self._send(link, {"type": "level", "feed": feed_id, "level": level})
                except (ConnectionError, RuntimeError):
                    return

    async def _unpublish(self, pub_id: int) -> None:
        pub, tracks = self._publishers.pop(pub_id, (None, []))
        for track in tracks:
            track.stop()
        if pub is not None:
            self._upstream = {f: h for f, h in self._upstream.items() if h not in pub.hubs}
            await close_quietly(pub)
