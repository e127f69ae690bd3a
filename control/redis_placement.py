"""Where classes are hosted, kept in Redis (DESIGN.md, "Two deployments"): a class is placed
on a node by ``control.placement.select_node`` when it has none, and stays there until its node
is declared dead or the class ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from streaming.cluster_keys import BARRED_FOR, NODES, PLACEMENT, NodeInfo, relays_key, text
from streaming.redis_events import UNREACHABLE

from .placement import (
    Arrivals,
    NodeLoad,
    NoMediaNode,
    Sent,
    select_node,
    select_viewer_node,
)
from .registry import NodeRegistry

log = logging.getLogger("sabaq.control.redis_placement")

# Forgets a class's placement only if it is still on the node that reports its end.
FORGET_PLACEMENT = (
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then"
    " return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"
)


class RedisPlacement:
    """The placement of classes on the registry's live nodes; ``present(class_id)`` counts the
    people already in a class (the live roster), so that they are not expected twice."""

    def __init__(self, redis: Redis, registry: NodeRegistry, present: Callable[[int], int]) -> None:
        self._redis = redis
        self._registry = registry
        self._present = present
        self._placing = asyncio.Lock()
        self._arrivals = Arrivals()
        self._sent = Sent()
        self._placed: dict[int, NodeInfo] = {}  # last known, for while Redis is away

    def _load(self, info: NodeInfo, now: float) -> NodeLoad:
        """The people on the node, and those still to come to the classes placed on it lately."""
        coming = self._arrivals.coming(info.id, now, self._present)
        return NodeLoad(info.id, info.participants + coming, info.capacity, info.rooms)

    def _viewer_load(self, info: NodeInfo, class_id: int, now: float) -> NodeLoad:
        """The node as a viewer of ``class_id`` weighs it: the people on it, those still to
        come to the other classes placed on it lately, and those sent to it since its last
        heartbeat."""
        coming = self._arrivals.coming(info.id, now, self._present, but=class_id)
        load = info.participants + coming + self._sent.count(info.id, time.time(), info.at)
        return NodeLoad(info.id, load, info.capacity, info.rooms)

    async def node_for(self, class_id: int, expected: int) -> NodeInfo:
        """The node that hosts the class, placing it on the least-loaded live node when it has
        none; a class stays where it is placed until its node is declared dead."""
        with contextlib.suppress(*UNREACHABLE, ValueError, KeyError, TypeError):  # placed already
            placed = await self._redis.hget(PLACEMENT, str(class_id))  # type: ignore[misc]
            if placed is not None:
                raw = await self._redis.hget(NODES, text(placed))  # type: ignore[misc]
                if raw is not None and text(placed) not in self._registry.dead:
                    info = NodeInfo.loads(raw)
                    self._placed[class_id] = info
                    return info
        async with self._placing:
            try:
                nodes = await self._registry.nodes()
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
            live = [n for n in nodes.values() if not self._registry.suspect(n.id, now)]
            best = nodes[select_node(self._load(n, now) for n in live)]
            try:
                await self._redis.hset(PLACEMENT, str(class_id), best.id)  # type: ignore[misc]
            except UNREACHABLE:
                raise NoMediaNode("Redis cannot be reached") from None
            self._arrivals.placed(best.id, class_id, expected, now)
            self._placed[class_id] = best
            log.info("class %s placed on media node %s (%s)", class_id, best.name, best.id)
            return best

    async def publisher_node_for(self, class_id: int, expected: int) -> NodeInfo:
        """The node one who publishes joins: the class's origin (``node_for``), where they
        count as sent until its heartbeats show them."""
        origin = await self.node_for(class_id, expected)
        self._sent.note(origin.id, time.time())
        return origin

    async def viewer_node_for(self, class_id: int, expected: int) -> NodeInfo:
        """The node a viewer of the class joins (``select_viewer_node``): its origin (placed
        now if it has none), one of its relay nodes (``sabaq:relays:<class>``), or a node made
        a relay of it now. A publisher joins ``node_for``, the origin."""
        origin = await self.node_for(class_id, expected)
        try:
            nodes = await self._registry.nodes()
            raw = await self._redis.smembers(relays_key(class_id))  # type: ignore[misc]
        except UNREACHABLE:
            return origin  # where the class is placed is known: its viewers go there
        now = time.monotonic()
        live = {i: n for i, n in nodes.items() if not self._registry.suspect(i, now)}
        relays = {text(r) for r in raw} & live.keys() - {origin.id}
        loads = {i: self._viewer_load(n, class_id, now) for i, n in live.items()}
        chosen = select_viewer_node(
            loads.get(origin.id, self._viewer_load(origin, class_id, now)),
            [loads[r] for r in sorted(relays)],
            [load for i, load in loads.items() if i != origin.id and i not in relays],
        )
        if chosen != origin.id and chosen not in relays:
            try:
                await self._redis.sadd(relays_key(class_id), chosen)  # type: ignore[misc]
                await self._redis.expire(relays_key(class_id), int(BARRED_FOR))
            except UNREACHABLE:
                return origin
            log.info("class %s relayed by media node %s", class_id, live[chosen].name)
        self._sent.note(chosen, time.time())
        return live.get(chosen, origin)

    def forget(self, class_ids: Iterable[int]) -> None:
        """The classes' nodes are gone (declared dead): they are placed anew."""
        for class_id in class_ids:
            self._placed.pop(class_id, None)

    async def class_ended(self, class_id: int, node: str) -> None:
        self._placed.pop(class_id, None)
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.eval(  # type: ignore[misc]
                FORGET_PLACEMENT, 1, PLACEMENT, str(class_id), node
            )
            await self._redis.delete(relays_key(class_id))
