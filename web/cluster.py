"""The control node's side of a cluster (DESIGN.md, "Two deployments"): the control lock, the
placement of classes on media nodes, the watch that declares a silent node dead, commands by
pub/sub, the live roster, and the loop that ingests the event stream.

Nodes are judged by the control node's own clock: a node is dead when its heartbeat has not
changed for ``dead_after`` seconds *while Redis was reachable all along* — after Redis was away,
every node gets ``dead_after`` afresh. The intervals a dead node left open are closed at its last
heartbeat (by its own clock, the one its events carry)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from access.events import EventKind
from access.ids import uuid7
from attendance.models import IGNORED, NODE_DECLARED_DEAD
from attendance.sqlite_store import SqliteHeartbeats, SqliteLedger
from control.changes import Changes
from control.redis_ingest import ensure_group, ingest_once, trim
from streaming.cluster import (
    BARRED_FOR,
    DEAD,
    NODES,
    PLACEMENT,
    ROSTER,
    NodeInfo,
    barred_key,
    command_channel,
    follow,
    release_placements,
    text,
)
from streaming.events import EventSink, MediaEvent
from streaming.redis_events import UNREACHABLE

log = logging.getLogger("sabaq.web.cluster")

LOCK = "sabaq:control-lock"
CONSUMER = "control"  # one control node: a new one finishes what the last one had read
PLACED_SETTLING = 120.0  # how long a new class's expected people count before they show
KEEP_IN_STREAM = 3600.0  # committed events stay in the stream an hour (to look into), then go
TRIM_EVERY = 60.0

# Renew the lock if it is still ours, take it if it lapsed (Redis was away), else say no.
KEEP_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Removes a node's registry entry only if it has not beaten since it was judged.
FORGET_NODE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def origins(urls: Iterable[str]) -> str:
    """``http://h:p ws://h:p`` (or https and wss) for each media node's URL, for connect-src."""
    out = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            continue
        secure = parts.scheme in ("https", "wss")
        host = parts.netloc.rsplit("@", 1)[-1]
        if not all(c.isalnum() or c in ".-:[]" for c in host):
            continue  # nothing that could end the header's directive
        out.add(f"{'https' if secure else 'http'}://{host}")
        out.add(f"{'wss' if secure else 'ws'}://{host}")
    return " ".join(sorted(out))


class ControlLockHeld(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class LockUnsure(Exception):
    """The control lock was not renewed lately: nothing is ingested or judged meanwhile."""


class NoMediaNode(Exception):
    """No live media node can take the class now."""


class ControlLock:
    """Exactly one control node: a key in Redis that expires unless its holder renews it."""

    def __init__(self, redis: Redis, holder: str, ttl: float) -> None:
        self._redis = redis
        self.holder = holder
        self._ttl_ms = max(1, int(ttl * 1000))
        self.ttl = ttl
        self._renewed = float("-inf")  # monotonic time the lock was last known to be ours

    async def acquire(self) -> None:
        """Take the lock, or raise ``ControlLockHeld`` naming who holds it."""
        if await self._redis.set(LOCK, self.holder, nx=True, px=self._ttl_ms):
            self._renewed = time.monotonic()
            return
        holder = await self._redis.get(LOCK)
        if holder is None:  # lapsed between the two calls
            return await self.acquire()
        raise ControlLockHeld(text(holder))

    async def keep(self, lost: Callable[[], None]) -> None:
        """Renew until cancelled; call ``lost`` if another control node took over (this one
        must stop: two would ingest and place at once). Redis away: keep running."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            asked = time.monotonic()
            try:
                ours = await self._redis.eval(KEEP_LOCK, 1, LOCK, self.holder, self._ttl_ms)  # type: ignore[misc]
            except UNREACHABLE:
                continue
            if ours:
                self._renewed = asked
            else:
                log.critical("another control node holds the control lock now: stopping")
                lost()
                return

    @property
    def sure(self) -> bool:
        """Whether the lock is surely still ours (renewed within two thirds of its life): the
        control node ingests and places only then — after a pause longer than the lock, another
        control node may have taken over."""
        return time.monotonic() - self._renewed < self.ttl * 2 / 3

    async def release(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.eval(RELEASE_LOCK, 1, LOCK, self.holder)  # type: ignore[misc]


class Cluster:
    """The control node's view of the media nodes: placement, the watch, commands, roster;
    also its ``control.commands.MediaControl``."""

    def __init__(
        self,
        redis: Redis,
        ledger: SqliteLedger,
        heartbeats: SqliteHeartbeats,
        changes: Changes,
        *,
        dead_after: float,
        answer_within: float = 3.0,
    ) -> None:
        self._redis = redis
        self._ledger = ledger
        self._heartbeats = heartbeats
        self._changes = changes
        self.dead_after = dead_after
        self._answer_within = answer_within
        self._placing = asyncio.Lock()
        # node → (its last heartbeat, when this node saw it change: monotonic)
        self._seen: dict[str, tuple[float, float]] = {}
        self._reachable_since: float | None = None
        self._recent: dict[str, deque[tuple[float, int, int]]] = {}  # (when, class, people)
        self._rosters: dict[int, tuple[str, set[int]]] = {}
        self._placed: dict[int, NodeInfo] = {}  # last known, for while Redis is away
        self.dead: dict[str, float] = {}  # node id → the heartbeat its stays were closed at
        self.reachable = False
        self.stopping = False  # the control node is shutting down: its loops end
        # The media nodes' origins, for the pages' Content-Security-Policy (connect-src).
        self.connect_sources = ""

    # -- registry and placement ----------------------------------------------------------------
    async def nodes(self) -> dict[str, NodeInfo]:
        """The live registry: nodes declared dead are not in it (one that beat once more before
        it noticed is skipped; it comes back under a new id)."""
        raw = await self._redis.hgetall(NODES)  # type: ignore[misc]
        out = {}
        for key, value in raw.items():
            try:
                info = NodeInfo.loads(value)
            except (ValueError, KeyError, TypeError):
                log.error("registry entry %s cannot be read: ignored", text(key))
                continue
            if info.id not in self.dead:
                out[info.id] = info
        return out

    def _suspect(self, node_id: str, now: float) -> bool:
        seen = self._seen.get(node_id)
        return seen is not None and now - seen[1] > self.dead_after

    def _load(self, info: NodeInfo, now: float) -> int:
        """The people on the node, and those still to come to the classes placed on it lately
        (a class's people arrive over minutes; those already in are counted once)."""
        recent = self._recent.setdefault(info.id, deque())
        while recent and now - recent[0][0] > PLACED_SETTLING:
            recent.popleft()
        coming = sum(
            max(0, expected - len(self._rosters.get(class_id, ("", set()))[1]))
            for _, class_id, expected in recent
        )
        return info.participants + coming

    async def node_for(self, class_id: int, expected: int) -> NodeInfo:
        """The node that hosts the class, placing it on the least-loaded live node when it has
        none; a class stays where it is placed until its node is declared dead."""
        with contextlib.suppress(*UNREACHABLE, ValueError, KeyError, TypeError):  # placed already
            placed = await self._redis.hget(PLACEMENT, str(class_id))  # type: ignore[misc]
            if placed is not None:
                raw = await self._redis.hget(NODES, text(placed))  # type: ignore[misc]
                if raw is not None and text(placed) not in self.dead:
                    info = NodeInfo.loads(raw)
                    self._placed[class_id] = info
                    return info
        async with self._placing:
            try:
                nodes = await self.nodes()
                placed = await self._redis.hget(PLACEMENT, str(class_id))  # type: ignore[misc]
            except UNREACHABLE:
                # The class goes on where it is: its people may still come and go.
                if class_id in self._placed:
                    return self._placed[class_id]
                raise NoMediaNode("Redis cannot be reached") from None
            if placed is not None and text(placed) in nodes:
                self._placed[class_id] = nodes[text(placed)]
                return nodes[text(placed)]
            now = time.monotonic()
            loads = {n.id: self._load(n, now) for n in nodes.values()}
            free = [
                (loads[n.id] / max(1, n.capacity), n.rooms, n.id, n)
                for n in nodes.values()
                if not self._suspect(n.id, now) and loads[n.id] < n.capacity
            ]
            if not free:
                raise NoMediaNode("no live media node has room")
            best = min(free, key=lambda f: f[:3])[3]
            try:
                await self._redis.hset(PLACEMENT, str(class_id), best.id)  # type: ignore[misc]
            except UNREACHABLE:
                raise NoMediaNode("Redis cannot be reached") from None
            self._recent.setdefault(best.id, deque()).append((now, class_id, max(1, expected)))
            self._placed[class_id] = best
            log.info("class %s placed on media node %s (%s)", class_id, best.name, best.id)
            return best

    async def class_ended(self, class_id: int, node: str) -> None:
        self._rosters.pop(class_id, None)
        self._placed.pop(class_id, None)
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.eval(  # type: ignore[misc]
                "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then"
                " return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0",
                1,
                PLACEMENT,
                str(class_id),
                node,
            )

    # -- the watch -----------------------------------------------------------------------------
    def unreachable(self) -> None:
        if self.reachable:
            log.warning("Redis cannot be reached: nobody is judged by heartbeats until it is back")
        self.reachable = False
        self._reachable_since = None

    async def watch_once(self, drain: Callable[[], Awaitable[int]] | None = None) -> list[NodeInfo]:
        """Note each node's heartbeat; declare dead the nodes silent for ``dead_after`` while
        Redis was reachable. ``drain`` ingests what is in the stream before a node's intervals
        are closed (its last events first). Returns the nodes declared dead."""
        now = time.monotonic()
        nodes = await self.nodes()  # UNREACHABLE propagates: the caller calls unreachable()
        if self._reachable_since is None:
            self._reachable_since = now
            self._seen = {n: (at, now) for n, (at, _) in self._seen.items()}
            if not self.reachable:
                log.info("Redis is reachable")
            self.reachable = True
        for info in nodes.values():
            seen = self._seen.get(info.id)
            if seen is None or seen[0] != info.at:
                self._seen[info.id] = (info.at, now)
                self._heartbeats.beat(info.id, info.at)
        for gone in set(self._seen) - set(nodes):
            del self._seen[gone]  # stopped and left the registry
        self.connect_sources = origins(n.url for n in nodes.values())
        if now - self._reachable_since < self.dead_after:
            return []
        dead = [nodes[n] for n in nodes if self._suspect(n, now)]
        if dead and drain is not None:
            for _ in range(1000):  # its last events first, all of those Redis holds
                if not await drain():
                    break
        for info in dead:
            await self._declare_dead(info)
        return dead

    def close_stays(self, node: str, cut_off: float) -> int:
        """Close what ``node`` left open, at its cut-off (again: nothing twice); returns how many
        stays were closed."""
        closed = self._ledger.close_after_stop(node, cut_off)
        for class_id in {le.event.class_id for le in closed}:
            self._changes.notify(class_id)
        return len(closed)

    async def load_dead(self) -> None:
        raw = await self._redis.hgetall(DEAD)  # type: ignore[misc]
        self.dead.update({text(k): float(text(v)) for k, v in raw.items()})

    async def _declare_dead(self, info: NodeInfo) -> None:
        # Stays closed first (if that fails, nothing is recorded and the next watch tries
        # again); then recorded: what the node reports from now on is kept, not counted.
        cut_off = info.cut_off
        closed = self.close_stays(info.id, cut_off)
        await self._redis.hset(DEAD, info.id, repr(cut_off))  # type: ignore[misc]
        self.dead[info.id] = cut_off
        await self._redis.eval(FORGET_NODE, 1, NODES, info.id, info.dumps())  # type: ignore[misc]
        freed = await release_placements(self._redis, info.id)
        for class_id in freed:
            self._rosters.pop(class_id, None)
            self._placed.pop(class_id, None)
        self._seen.pop(info.id, None)
        log.warning(
            "media node %s (%s) stopped heart-beating: %d open intervals closed at its last"
            " heartbeat; classes %s are placed anew when their people reconnect",
            info.name,
            info.id,
            closed,
            freed,
        )

    # -- commands ------------------------------------------------------------------------------
    async def command(self, class_id: int, op: str, **fields: Any) -> dict[str, Any] | None:
        """Send a command to the node that hosts the class and wait for its answer; None when
        the class is on no node, or no node answered in time."""
        try:
            placed = await self._redis.hget(PLACEMENT, str(class_id))  # type: ignore[misc]
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached, %s not sent", class_id, op)
            return None
        if placed is None:
            return None
        command_id = str(uuid7())
        reply = f"sabaq:answers:{command_id}"
        doc = {"id": command_id, "op": op, "class_id": class_id, "reply": reply, **fields}
        try:
            async with self._redis.pubsub() as ps:
                await ps.subscribe(reply)
                if not await self._redis.publish(command_channel(text(placed)), json.dumps(doc)):
                    log.warning("class %s: node %s is not listening", class_id, text(placed))
                    return None
                deadline = time.monotonic() + self._answer_within
                while (left := deadline - time.monotonic()) > 0:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=left)
                    if msg is not None and msg.get("type") == "message":
                        answer: dict[str, Any] = json.loads(text(msg["data"]))
                        if answer.get("id") == command_id:
                            return answer
        except UNREACHABLE:
            log.error("class %s: Redis went away while %s was sent", class_id, op)
            return None
        log.warning("class %s: node %s did not answer %s in time", class_id, text(placed), op)
        return None

    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        try:
            key = barred_key(class_id)
            words = json.dumps({"code": code, "message": message}, ensure_ascii=False)
            await self._redis.hset(key, str(user_id), words)  # type: ignore[misc]
            await self._redis.expire(key, int(BARRED_FOR))
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; %s not barred", class_id, user_id)
            return False
        answer = await self.command(class_id, "remove", user_id=user_id, code=code, message=message)
        return bool(answer and answer.get("done"))

    async def readmit(self, class_id: int, user_id: int) -> None:
        try:
            await self._redis.hdel(barred_key(class_id), str(user_id))  # type: ignore[misc]
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; %s not let back", class_id, user_id)
            return
        await self.command(class_id, "readmit", user_id=user_id)

    async def end_class(self, class_id: int, reason: str) -> bool:
        answer = await self.command(class_id, "end", reason=reason)
        return bool(answer and answer.get("done"))

    async def present_user_ids(self, class_id: int) -> set[int]:
        return set(self._rosters.get(class_id, ("", set()))[1])

    # -- the live roster -----------------------------------------------------------------------
    def roster_heard(self, raw: object) -> None:
        try:
            doc = json.loads(text(raw))
            class_id, node = int(doc["class_id"]), str(doc["node"])
            present = {int(u) for u in doc["present"]}
        except (ValueError, KeyError, TypeError):
            log.error("a roster message that cannot be read was ignored")
            return
        if doc.get("ended"):
            self._rosters.pop(class_id, None)
        else:
            self._rosters[class_id] = (node, present)
        self._changes.notify(class_id)

    async def follow_rosters(self, retry: float) -> None:
        await follow(
            self._redis, lambda: ROSTER, self.roster_heard, lambda: not self.stopping, retry
        )


class ClusterIngest:
    """What the stream's events go through on the control node: the ledger (``deliver``
    returns once committed), then the placement of a class that ended is forgotten."""

    def __init__(self, ledger_sink: EventSink, cluster: Cluster) -> None:
        self._sink = ledger_sink
        self._cluster = cluster

    async def deliver(self, event: MediaEvent) -> None:
        cut_off = self._cluster.dead.get(event.node)
        late = cut_off is not None and event.origin_time > cut_off
        if late:
            # The node was declared dead and its stays closed at its cut-off: what it says
            # happened after that (it was cut off from Redis, not dead) is kept, not counted.
            log.warning("event %s from %s, declared dead: kept, not counted", event.id, event.node)
            data = {**event.data, IGNORED: NODE_DECLARED_DEAD, "declared_dead_at": cut_off}
            event = dataclasses.replace(event, data=data)
        await self._sink.deliver(event)
        if cut_off is not None and not late:
            # From before the cut-off, arriving after the node was declared dead: counted, and
            # whatever it opened is closed as the node's other stays were.
            self._cluster.close_stays(event.node, cut_off)
        if event.kind is EventKind.CLASS_ENDED and cut_off is None:
            await self._cluster.class_ended(event.class_id, event.node)

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        for event in events:
            await self.deliver(event)

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        await self._sink.dead_letter(event, error)

    async def heartbeat(self, node: str, at: float) -> None:
        await self._sink.heartbeat(node, at)


async def run_control(
    redis: Redis,
    cluster: Cluster,
    ingest: EventSink,
    every: float,
    lock: ControlLock | None = None,
    block_ms: int = 500,
) -> None:
    """Ingest the stream (acknowledging each event after its commit) and watch the nodes every
    ``every`` seconds, until cancelled; only while the control lock is surely held."""
    next_watch = next_trim = 0.0
    grouped = False

    async def drain() -> int:
        if lock is not None and not lock.sure:
            raise LockUnsure
        return await ingest_once(redis, ingest, CONSUMER)

    pending = True  # after a start or a failure: finish what was read and not acknowledged
    while not cluster.stopping:
        if lock is not None and not lock.sure:
            pending = True
            cluster.unreachable()  # nobody is judged by heartbeats meanwhile, nor just after
            await asyncio.sleep(min(every, lock.ttl / 6))
            continue
        try:
            if not grouped:
                await ensure_group(redis)
                await cluster.load_dead()
                grouped = True
            await ingest_once(redis, ingest, CONSUMER, block_ms=block_ms, pending=pending)
            pending = False
            if time.monotonic() >= next_watch:
                next_watch = time.monotonic() + every
                await cluster.watch_once(drain)
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + TRIM_EVERY
                await trim(redis, KEEP_IN_STREAM, time.time())
        except asyncio.CancelledError:
            raise
        except (LockUnsure, *UNREACHABLE):
            pending = True
            cluster.unreachable()
            await asyncio.sleep(min(every, 1.0))
        except ResponseError as exc:
            pending = True
            if "NOGROUP" in str(exc):  # Redis came back without its data: make the group anew
                log.error("the event stream's consumer group is gone; making it again")
                grouped = False
                continue
            log.exception("Redis refused a command of the cluster loop; going on")
            await asyncio.sleep(every)
        except Exception:
            pending = True
            log.exception("the control node's cluster loop failed; going on")
            await asyncio.sleep(every)
