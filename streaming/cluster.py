"""A media node in a cluster (DESIGN.md, "Two deployments"): it registers in Redis with its
capacity and load and heart-beats, answers the control node's commands by pub/sub, publishes the
live roster of its classes, and lets go of a class that was placed on another node while it was
taken for dead. What lives in Redis, and its keys, are in ``cluster_keys``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis

from access.events import EventKind

from .cascade import Cascade
from .cluster_keys import (
    BARRED_FOR,
    DEAD,
    NODES,
    PLACEMENT,
    ROSTER,
    ROSTER_KINDS,
    NodeInfo,
    barred_key,
    closed_key,
    closed_of,
    code_of,
    command_channel,
    ended_key,
    follow,
    keep_out,
    merged,
    relays_key,
    release_placements,
    removed_key,
    spent_key,
    taken_out,
    text,
)
from .events import MediaEvent
from .node import MediaNode
from .redis_events import UNREACHABLE, RedisStreamSink

log = logging.getLogger("sabaq.streaming.cluster")


class MediaAgent:
    """The node's side of the cluster; also its ``streaming.node.ClassGate``."""

    def __init__(
        self,
        redis: Redis,
        node: MediaNode,
        sink: RedisStreamSink,
        *,
        name: str,
        url: str,
        capacity: int,
        every: float,
        watch: str = "",
    ) -> None:
        self._redis = redis
        self._node = node
        self._sink = sink
        self.id = node.settings.node_id
        self.name = name
        self.url = url
        self.watch = watch
        self.capacity = capacity
        self._every = every
        self._started = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._commands: set[asyncio.Task[None]] = set()
        self._roster_due: set[int] = set()
        self._replay: asyncio.Task[None] | None = None
        self._stopping = False
        self.cascade = Cascade(node)  # the classes this node relays from their origins

    @property
    def buffered(self) -> int:
        """Events waiting on disk for Redis."""
        return self._sink.buffer.size

    @property
    def oldest_buffered(self) -> float | None:
        """When the oldest event waiting on disk for Redis happened (by the node's clock)."""
        return self._sink.buffer.oldest

    # -- the gate ------------------------------------------------------------------------------
    def refuses_joins(self) -> bool:
        return self._sink.buffer.nearly_full

    async def hosts(self, class_id: int) -> bool:
        """Whether the class is placed here, or relayed here from its origin (the link to the
        origin is opened now if it is not open yet)."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hget(PLACEMENT, str(class_id))
            pipe.sismember(relays_key(class_id), self.id)
            placed, relaying = await pipe.execute()
            here = placed is not None and text(placed) == self.id
            if here and class_id in self.cascade.links:
                # Placed anew on this node, its former relay: served by a room here now, not
                # piped to an origin that is gone.
                await self.cascade.drop(class_id)
            if placed is None or here or not relaying:
                return here
            raw = await self._redis.hget(NODES, text(placed))  # type: ignore[misc]
        except UNREACHABLE:
            return True  # the join token named this node; go on with what it was told
        if raw is None:
            return False  # the origin is gone: the class is placed anew
        self._relay(class_id, NodeInfo.loads(raw).url)
        return True

    def _relay(self, class_id: int, origin_url: str) -> None:
        link = self.cascade.links.get(class_id)
        if link is not None and link.origin_url != origin_url:  # the class moved: a new link
            del self.cascade.links[class_id]
            self._spawn(link.stop())
        self.cascade.relay(class_id, origin_url)

    async def barred(self, class_id: int) -> dict[int, str] | None:
        try:
            told = await taken_out(self._redis, class_id)
        except UNREACHABLE:
            return None
        return {int(text(u)): code_of(w) for u, w in told.items()}

    async def keep_out(self, class_id: int, user_id: int, code: str, message: str) -> None:
        try:
            await keep_out(self._redis, class_id, user_id, code, message)
        except UNREACHABLE:  # this node keeps them out; the next command or join asks again
            log.error("class %s: Redis cannot be reached; %s not kept out", class_id, user_id)

    async def closed(self, class_id: int) -> tuple[str, str] | None:
        """Cancelled or held in person (the control node says: ``closed_key``), else ended (a
        node says when it ends a class: ``ended_key``)."""
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(closed_key(class_id))
            pipe.exists(ended_key(class_id))
            closed, ended = await pipe.execute()
        except UNREACHABLE:
            return None  # cannot be asked: the node's own memory still keeps its ended rooms
        if closed is not None:
            return closed_of(closed)
        return ("class_ended", "") if ended else None

    async def spend(self, token_id: str, until: float) -> bool:
        try:
            # Kept for the token's life as the node's clock counts it (that clock stamped
            # ``until``; Redis's absolute times are by the wall clock).
            life = max(1, math.ceil(until - self._node.settings.clock()))
            fresh = await self._redis.set(spent_key(token_id), self.id, nx=True, ex=life)
        except UNREACHABLE:
            log.warning(
                "Redis cannot be reached: join token %s checked on this node only", token_id
            )
            return True
        return bool(fresh)

    async def unspend(self, token_id: str) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.delete(spent_key(token_id))

    async def _keep_ended(self, class_id: int) -> None:
        try:
            await self._redis.set(ended_key(class_id), self.id, ex=int(BARRED_FOR))
        except UNREACHABLE:
            log.error("class %s ended; Redis cannot be reached to keep it", class_id)

    # -- running -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._node.outbox.listeners.append(self._on_event)
        with contextlib.suppress(*UNREACHABLE):
            await self.beat_once()
        self._tasks = [
            asyncio.create_task(self._beating(), name="sabaq-node-registry"),
            asyncio.create_task(self._listening(), name="sabaq-node-commands"),
        ]

    async def stop(self) -> None:
        """Leave the registry and free this node's classes, so that the people it is about to
        disconnect are placed on another node when they reconnect."""
        self._stopping = True
        if self._replay is not None:
            self._tasks.append(self._replay)
            self._replay = None
        tasks = self._tasks + list(self._commands)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a Redis client that turns a cancellation into a connection error must
            # not hold the node's shutdown (the loops also stop on their own).
            await asyncio.wait(tasks, timeout=5)
        self._tasks = []
        await self.cascade.stop()
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.hdel(NODES, self.id)  # type: ignore[misc]
            await release_placements(self._redis, self.id)

    def info(self) -> NodeInfo:
        return NodeInfo(
            id=self.id,
            name=self.name,
            url=self.url,
            capacity=self.capacity,
            participants=self._node.participants,
            rooms=sum(1 for r in self._node.rooms.values() if not r.ended),
            started=self._started,
            at=time.time(),
            backlog_since=min(
                (t for t in (self._sink.buffer.oldest, self._node.outbox.oldest) if t is not None),
                default=None,
            ),
            dead_events=self._sink.dead_letters,
            watch=self.watch,
        )

    async def beat_once(self) -> None:
        """Say the node is alive and how loaded; start replaying what waits on disk (on its
        own: a long replay must not silence the heartbeat); let go of classes placed elsewhere;
        take out anyone barred who is still in; publish every class's roster (a lost message is
        made good here)."""
        if await self._redis.hexists(DEAD, self.id):  # type: ignore[misc]
            await self._come_back()
        await self._redis.hset(NODES, self.id, self.info().dumps())  # type: ignore[misc]
        if self._sink.buffer.size and (self._replay is None or self._replay.done()):
            self._replay = asyncio.create_task(self._replay_buffer(), name="sabaq-node-replay")
        live = [cid for cid, room in self._node.rooms.items() if not room.ended]
        if not live:
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(PLACEMENT, [str(c) for c in live])
        for class_id in live:
            pipe.hgetall(barred_key(class_id))
            pipe.hgetall(removed_key(class_id))
            pipe.sismember(relays_key(class_id), self.id)
        placed, *hashes = await pipe.execute()
        barred = [merged(b, r) for b, r in zip(hashes[::3], hashes[1::3], strict=True)]
        relaying = zip(live, hashes[2::3], strict=True)
        relayed = [bool(r) and c in self.cascade.links for c, r in relaying]
        for class_id, where, told, relay in zip(live, placed, barred, relayed, strict=True):
            if where is None or (text(where) != self.id and not relay):
                log.warning(
                    "class %s is placed on %s now: its participants go there",
                    class_id,
                    text(where) if where is not None else "no node",
                )
                self._spawn(self._let_go(class_id))  # closing sockets takes its time
                continue
            if text(where) == self.id and class_id in self.cascade.links:
                self._spawn(self.cascade.drop(class_id))  # placed anew here: no origin to pipe to
                continue
            self._spawn(self._take_out(class_id, told))
            await self._publish_roster(class_id)

    async def _let_go(self, class_id: int) -> None:
        await self.cascade.drop(class_id)
        await self._node.let_go(class_id)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Work the heartbeat starts and does not wait for (it must not be held up)."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("work started by the heartbeat failed")

        task = asyncio.create_task(run())
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _come_back(self) -> None:
        old = self.id
        await self.cascade.stop()
        for class_id in list(self._node.rooms):
            await self._node.let_go(class_id)
        self.id = f"{self.name}.{secrets.token_hex(4)}"
        self._node.rename(self.id)
        self._started = time.time()
        log.warning(
            "this node (%s) was declared dead while cut off from Redis: its classes went to"
            " other nodes; it goes on as %s",
            old,
            self.id,
        )

    async def _take_out(self, class_id: int, told: dict[Any, Any]) -> None:
        present = self._node.present_user_ids(class_id)
        for raw_user, raw_words in told.items():
            user_id = int(text(raw_user))
            if user_id not in present:
                continue
            try:
                words = json.loads(text(raw_words))
                code, message = str(words["code"]), str(words["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "removed", "You were removed from the class"
            log.warning("class %s: %s was barred and still in; taken out", class_id, user_id)
            await self._node.remove_user(class_id, user_id, code, message)

    async def _replay_buffer(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self._sink.flush_buffer()

    async def _beating(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._every)
            try:
                await self.beat_once()
            except asyncio.CancelledError:
                raise
            except UNREACHABLE:
                pass  # the classes go on; events wait on disk
            except Exception:
                log.exception("the node's heartbeat failed")

    # -- commands ------------------------------------------------------------------------------
    async def _listening(self) -> None:
        def on_command(raw: object) -> None:
            task = asyncio.create_task(self._answer(raw))
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)

        # A node that came back under a new id listens on its new channel.
        await follow(
            self._redis,
            lambda: command_channel(self.id),
            on_command,
            lambda: not self._stopping,
            self._every,
        )

    async def _answer(self, raw: object) -> None:
        try:
            doc = json.loads(text(raw))
            reply = str(doc["reply"])
        except (ValueError, KeyError, TypeError):
            log.error("a command that cannot be read was ignored: %.200r", raw)
            return
        try:
            answer = await self.execute(doc)
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "error": "bad_command", "message": str(exc)}
        answer["id"] = doc.get("id")
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.publish(reply, json.dumps(answer))

    async def execute(self, doc: dict[str, Any]) -> dict[str, Any]:
        """One command of the control plane: remove, readmit, let_back, end, roster."""
        op = doc.get("op")
        class_id = int(doc["class_id"])
        node = self._node
        if op == "remove":
            removed = await node.remove_user(
                class_id, int(doc["user_id"]), str(doc["code"]), str(doc["message"])
            )
            return {"ok": True, "done": removed}
        if op == "readmit":
            node.readmit(class_id, int(doc["user_id"]))
            return {"ok": True, "done": True}
        if op == "let_back":
            node.let_back(class_id, int(doc["user_id"]))
            return {"ok": True, "done": True}
        if op == "end":
            return {"ok": True, "done": await node.end_class(class_id, str(doc["reason"]))}
        if op == "roster":
            return {"ok": True, "present": sorted(node.present_user_ids(class_id))}
        return {"ok": False, "error": "unknown_command", "message": f"no command {op!r}"}

    # -- the live roster -----------------------------------------------------------------------
    def _on_event(self, event: MediaEvent) -> None:
        if event.kind is EventKind.CLASS_ENDED:
            self._spawn(self._keep_ended(event.class_id))
        if event.kind not in ROSTER_KINDS or event.class_id in self._roster_due:
            return
        self._roster_due.add(event.class_id)
        # After the room has taken the change in (the event is emitted on the way).
        asyncio.get_running_loop().call_soon(self._roster_soon, event.class_id)

    def _roster_soon(self, class_id: int) -> None:
        self._spawn(self._publish_roster(class_id))

    async def _publish_roster(self, class_id: int) -> None:
        self._roster_due.discard(class_id)
        if class_id in self.cascade.links:
            # The control node keeps one node's roster per class, the origin's: a relay's
            # would replace it (its viewers' attendance goes by their events as anyone's).
            return
        room = self._node.rooms.get(class_id)
        doc = {
            "node": self.id,
            "class_id": class_id,
            "present": sorted(self._node.present_user_ids(class_id)),
            "ended": room is None or room.ended,
            "at": time.time(),
        }
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.publish(ROSTER, json.dumps(doc))
