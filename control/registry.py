"""The node registry as the control node reads it, and the watch that declares a silent media
node dead (DESIGN.md, "Two deployments").

Nodes are judged by the control node's own clock: a node is dead when its heartbeat has not
changed for ``dead_after`` seconds *while Redis was reachable all along* — after Redis was away,
every node gets ``dead_after`` afresh. The intervals a dead node left open are closed at its last
heartbeat (by its own clock, the one its events carry)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from urllib.parse import urlsplit

from redis.asyncio import Redis

from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from streaming.cluster_keys import DEAD, NODES, NodeInfo, release_placements, text

from .changes import Changes

log = logging.getLogger("sabaq.control.registry")

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


class NodeRegistry:
    """The live media nodes, their heartbeats, and those declared dead. ``freed`` is told the
    classes a dead node hosted (their placement is forgotten in Redis already)."""

    def __init__(
        self,
        redis: Redis,
        ledger: SqliteLedger,
        heartbeats: SqliteHeartbeats,
        changes: Changes,
        *,
        dead_after: float,
        freed: Callable[[list[int]], None] = lambda _classes: None,
    ) -> None:
        self._redis = redis
        self._ledger = ledger
        self._heartbeats = heartbeats
        self._changes = changes
        self._freed = freed
        self.dead_after = dead_after
        # node → (its last heartbeat, when this node saw it change: monotonic)
        self._seen: dict[str, tuple[float, float]] = {}
        self._reachable_since: float | None = None
        self.dead: dict[str, float] = {}  # node id → the heartbeat its stays were closed at
        self.reachable = False
        self.live: dict[str, NodeInfo] = {}  # as the last watch read them
        # The media nodes' origins, for the pages' Content-Security-Policy (connect-src).
        self.connect_sources = ""

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

    def suspect(self, node_id: str, now: float) -> bool:
        """Whether the node's heartbeat has not changed for ``dead_after`` (monotonic ``now``)."""
        seen = self._seen.get(node_id)
        return seen is not None and now - seen[1] > self.dead_after

    def unreachable(self) -> None:
        if self.reachable:
            log.warning("Redis cannot be reached: nobody is judged by heartbeats until it is back")
        self.reachable = False
        self._reachable_since = None

    async def watch_once(
        self, drain: Callable[[], Awaitable[int]] | None = None, gone: Collection[str] = ()
    ) -> list[NodeInfo]:
        """Note each node's heartbeat; declare dead the nodes silent for ``dead_after`` while
        Redis was reachable, and at once those whose process is ``gone`` (``control.node_watch``
        saw it). ``drain`` ingests what is in the stream before a node's intervals are closed
        (its last events first). Returns the nodes declared dead."""
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
        self.live = nodes
        settled = now - self._reachable_since >= self.dead_after
        dead = [nodes[n] for n in nodes if n in gone or (settled and self.suspect(n, now))]
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
        self._freed(freed)
        self._seen.pop(info.id, None)
        log.warning(
            "media node %s (%s) declared dead: %d open intervals closed at its last heartbeat;"
            " classes %s are placed anew when their people reconnect",
            info.name,
            info.id,
            closed,
            freed,
        )
